"""The 2026-2027 packs end to end: escalation and the gatekeeper on the real broker and the stepped clock, the
test playing core banking and, where a contact must be seen to have happened, the channel worker's outcome."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode, Relation
from tests.e2e.conftest import Pipeline
from tests.e2e.test_escalation_flow import champions

DUBLIN, SHANGHAI = ZoneInfo("Europe/Dublin"), ZoneInfo("Asia/Shanghai")


def overdue(debtor: str, dpd: int, due: date, currency: str, at: datetime) -> ev.AccountOverdue:
    return ev.AccountOverdue(
        debtor_id=debtor,
        account_id="a1",
        product="personal_loan",
        currency=currency,
        amount_due=Decimal(120),
        total_outstanding=Decimal(2400),
        days_past_due=dpd,
        due_date=due,
        as_of=at,
    )


def outcome(approval: ev.ContactApproved, status: OutcomeStatus, at: datetime) -> ev.ContactOutcome:
    """What the channel worker (or its callback) reports for ``approval``."""
    return ev.ContactOutcome(
        debtor_id=approval.debtor_id,
        outcome_id=f"o-{approval.request_id}-{status}",
        request_id=approval.request_id,
        account_id=approval.account_id,
        channel=approval.channel,
        status=status,
        final=True,
        occurred_at=at,
    )


def points(*pairs: tuple[str, str, list[Channel], Relation]) -> list[ev.ContactPoint]:
    return [
        ev.ContactPoint(
            type=ev.ContactPointType.EMAIL if "@" in address else ev.ContactPointType.PHONE,
            address=address,
            consents=consents,
            relation=relation,
        )
        for address, _, consents, relation in pairs
    ]


def profile(debtor: str, zone: str, jurisdictions: list[str], contact: list[ev.ContactPoint]) -> BaseModel:
    return ev.DebtorProfileUpdated(
        debtor_id=debtor,
        name="Alex Doe",
        timezone=zone,
        language="en-IE" if "EU" in jurisdictions else "zh-CN" if "CN" in jurisdictions else "en-US",
        jurisdictions=jurisdictions,
        contact_points=contact,
    )


async def test_eu_legal_action_waits_for_a_forbearance_offer_and_then_14_days(pipeline: Pipeline) -> None:
    [debtor] = champions("eu")
    due = date(2026, 12, 1)
    contact = points(
        (f"{debtor}@example.ie", "email", [Channel.EMAIL], Relation.SELF),
        ("+353861234567", "phone", [Channel.SMS, Channel.VOICE], Relation.SELF),
    )
    eve = datetime(2027, 2, 28, 2, 0, tzinfo=UTC)  # day 89's end of day
    await pipeline.advance(eve)
    await pipeline.send(profile(debtor, "Europe/Dublin", ["EU"], contact))
    await pipeline.send(overdue(debtor, 89, due, "EUR", eve))
    # Day 90 at 09:00 in Dublin: escalation asks for legal action, the gatekeeper refuses it for want of an
    # earlier forbearance offer, escalation makes the offer.
    await pipeline.advance(datetime(2027, 3, 1, 10, 0, tzinfo=DUBLIN))
    legal = [d for d in pipeline.decisions(debtor) if d.escalation is ev.EscalationKind.LEGAL]
    assert [(d.decision, d.reasons) for d in legal] == [
        (DecisionKind.BLOCK, [ReasonCode.FORBEARANCE_REQUIRED])
    ]
    [offer] = [a for a in pipeline.approvals(debtor) if a.template == "restructuring_offer"]
    assert (offer.channel, offer.destination) == (Channel.EMAIL, f"{debtor}@example.ie")
    assert not [e for e in pipeline.tail.of(ev.EscalationRaised) if e.debtor_id == debtor]
    # The offer is delivered: asked again, legal action waits until the offer is 14 x 24 hours old.
    await pipeline.send(outcome(offer, OutcomeStatus.DELIVERED, pipeline.now))
    ready = offer.approved_at + timedelta(days=14)
    legal = [d for d in pipeline.decisions(debtor) if d.escalation is ev.EscalationKind.LEGAL]
    assert [(d.decision, d.reasons, d.not_before) for d in legal[1:]] == [
        (DecisionKind.DEFER, [ReasonCode.FORBEARANCE_REQUIRED], ready)
    ]
    await pipeline.advance(ready - timedelta(seconds=1))
    assert not [e for e in pipeline.tail.of(ev.EscalationRaised) if e.debtor_id == debtor]
    await pipeline.advance(ready + timedelta(hours=1))
    [raised] = [e for e in pipeline.tail.of(ev.EscalationRaised) if e.debtor_id == debtor]
    assert (raised.kind, raised.raised_at) == (ev.EscalationKind.LEGAL, ready)
    # Handed off: automated outreach for the account has ended.
    await pipeline.advance(ready + timedelta(days=5))
    assert [r for r in pipeline.requests(debtor) if r.requested_at > ready] == []


async def test_a_cn_emergency_contact_only_after_three_unanswered_calls(pipeline: Pipeline) -> None:
    [debtor] = champions("cn")
    own, friend = "+8613800138000", "+8613900139000"
    contact = points(
        (own, "phone", [Channel.SMS, Channel.VOICE], Relation.SELF),
        (friend, "phone", [Channel.SMS], Relation.EMERGENCY_CONTACT),
    )
    due = date(2026, 6, 1)
    await pipeline.send(profile(debtor, "Asia/Shanghai", ["CN"], contact))
    answered: set[str] = set()
    failed_at: list[datetime] = []
    for dpd in range(1, 12):
        end_of_day = datetime.combine(due + timedelta(days=dpd), time(22), tzinfo=SHANGHAI) - timedelta(
            days=1
        )
        await pipeline.advance(end_of_day)
        await pipeline.send(overdue(debtor, dpd, due, "CNY", end_of_day))
        await pipeline.advance(end_of_day + timedelta(hours=20))
        for approval in pipeline.approvals(debtor):
            if approval.channel is Channel.VOICE and approval.request_id not in answered:
                answered.add(approval.request_id)
                await pipeline.send(outcome(approval, OutcomeStatus.NO_ANSWER, pipeline.now))
                failed_at.append(pipeline.now)
    to_friend = [r for r in pipeline.requests(debtor) if r.destination == friend]
    assert len(failed_at) >= 3 and len(to_friend) == 1
    [ask] = to_friend
    assert ask.requested_at >= failed_at[2]  # only after the third unanswered call
    assert (ask.template, ask.variables) == ("callback_request", {"name": "Alex Doe"})
    [decision] = [d for d in pipeline.decisions(debtor) if d.request_id == ask.request_id]
    assert decision.decision is DecisionKind.ALLOW
    [approval] = [a for a in pipeline.approvals(debtor) if a.request_id == ask.request_id]
    local = approval.approved_at.astimezone(SHANGHAI)
    assert time(8) <= local.time() < time(20)  # the CN hours hold for a third party too
    # The ladder never chose the friend's number.
    assert all(r.destination == own for r in pipeline.requests(debtor) if r.request_id != ask.request_id)


async def test_an_sms_stop_ends_voice_calls_from_2027_01_31(pipeline: Pipeline) -> None:
    before, after = champions("tcpa", 2)
    us = points(("+12125550100", "phone", [Channel.SMS, Channel.VOICE], Relation.SELF))
    # Day 7 (the first call) falls on 24 January for one, on 1 February 2027 for the other.
    dues = {before: date(2027, 1, 17), after: date(2027, 1, 25)}
    await pipeline.advance(datetime(2027, 1, 16, 2, 0, tzinfo=UTC))
    await pipeline.send(*(profile(d, "America/New_York", ["US"], us) for d in (before, after)))
    for day in range(0, 26):
        eve = datetime(2027, 1, 17, 2, 0, tzinfo=UTC) + timedelta(days=day)
        await pipeline.advance(eve)
        batch = [
            overdue(d, (eve.date() - dues[d]).days, dues[d], "USD", eve)
            for d in (before, after)
            if eve.date() > dues[d]
        ]
        await pipeline.send(*batch)
        for d in (before, after):
            if (eve.date() - dues[d]).days == 2:  # STOP to the first text
                stop = ev.ConsentChanged(
                    debtor_id=d,
                    address="+12125550100",
                    channel=Channel.SMS,
                    change=ev.ConsentChange.OPT_OUT,
                    source=ev.ConsentSource.SMS_REPLY,
                    occurred_at=pipeline.now,
                )
                await pipeline.send(stop)
    revoke_all = datetime(2027, 1, 31, tzinfo=UTC)
    for d in (before, after):
        calls = [x for x in pipeline.decisions(d) if x.channel is Channel.VOICE]
        earlier = [x for x in calls if x.decided_at < revoke_all]
        later = [x for x in calls if x.decided_at >= revoke_all]
        assert earlier and later, d
        # Before the instant an SMS STOP is per channel: the calls go on (the texts fall back to calls).
        assert all(x.decision is not DecisionKind.BLOCK for x in earlier), d
        # From it, the same STOP revokes calls too: every call is refused, whenever the STOP was.
        refused = {(x.decision, tuple(x.reasons)) for x in later}
        assert refused == {(DecisionKind.BLOCK, (ReasonCode.OPTED_OUT,))}, d
