"""The independent audit on the 2026-2027 rules: third parties, the EU's debt-advice referral and forbearance
before enforcement, escalations under hard stops, and the US revoke-all from 2027-01-31."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus, Relation
from services.reporting.audit import audit
from tests.unit.reporting.logbook import NY_PHONE, Logbook, utc

S = OutcomeStatus
CN_PHONE, FRIEND = "+8613800138000", "+8613900139000"


def rules(log: Logbook) -> list[str]:
    return [v.rule for v in audit(log.envelopes).violations]


def cn_log() -> Logbook:
    log = Logbook()
    log.profile(
        "d1",
        utc(1, 0),
        timezone="Asia/Shanghai",
        phones=(CN_PHONE,),
        jurisdictions=("CN",),
        others=((FRIEND, Relation.EMERGENCY_CONTACT),),
    )
    return log


def test_an_emergency_contact_after_three_failed_calls_with_limited_content_is_clean() -> None:
    log = cn_log()
    for hour, status in ((2, S.NO_ANSWER), (3, S.BUSY), (4, S.NO_ANSWER)):
        log.contact("d1", utc(2, hour), Channel.VOICE, (status,), destination=CN_PHONE, template="call")
    log.contact("d1", utc(2, 5), Channel.SMS, (S.SENT,), destination=FRIEND, template="callback_request")
    assert rules(log) == []


def test_a_call_failed_at_the_decisions_instant_counts_and_one_not_known_yet_does_not() -> None:
    """On a stepped clock the third call, its failure and the request for the emergency contact share one
    instant: the failure had happened by then. A call whose outcome came after the decision had not."""

    def third_call_outcome_after(delay: timedelta) -> list[str]:
        log = cn_log()
        for hour in (2, 3):
            log.contact(
                "d1", utc(2, hour), Channel.VOICE, (S.NO_ANSWER,), destination=CN_PHONE, template="call"
            )
        log.contact(
            "d1",
            utc(2, 4),
            Channel.VOICE,
            (S.NO_ANSWER,),
            destination=CN_PHONE,
            template="call",
            sent_after=delay,
        )
        log.contact("d1", utc(2, 4), Channel.SMS, (S.SENT,), destination=FRIEND, template="callback_request")
        return rules(log)

    assert third_call_outcome_after(timedelta(0)) == []
    assert third_call_outcome_after(timedelta(seconds=5)) == ["THIRD_PARTY"]


def test_an_emergency_contact_while_reachable_or_told_of_the_debt_is_found() -> None:
    reachable = cn_log()
    for hour, status in ((2, S.NO_ANSWER), (3, S.CONVERSATION), (4, S.NO_ANSWER)):
        reachable.contact("d1", utc(2, hour), Channel.VOICE, (status,), destination=CN_PHONE, template="call")
    reachable.contact(
        "d1", utc(2, 5), Channel.SMS, (S.SENT,), destination=FRIEND, template="callback_request"
    )
    [found] = audit(reachable.envelopes).violations
    assert (found.rule, found.detail) == (
        "THIRD_PARTY",
        "an emergency contact while the debtor was reachable",
    )
    told = cn_log()
    for hour in (2, 3, 4):
        told.contact("d1", utc(2, hour), Channel.VOICE, (S.NO_ANSWER,), destination=CN_PHONE, template="call")
    told.contact("d1", utc(2, 5), Channel.SMS, (S.SENT,), destination=FRIEND, template="reminder")
    [found] = audit(told.envelopes).violations
    assert "not limited content" in found.detail


def test_a_third_party_outside_china_is_always_found() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12), others=(("+12125550177", Relation.EMERGENCY_CONTACT),))
    log.contact(
        "d1", utc(2, 14), Channel.SMS, (S.SENT,), destination="+12125550177", template="callback_request"
    )
    assert rules(log) == ["THIRD_PARTY"]


def test_an_eu_reminder_without_the_referral_is_found() -> None:
    log = Logbook()
    log.profile(
        "d1", utc(1, 12, month=12), timezone="Europe/Dublin", phones=("+353861234567",), jurisdictions=("EU",)
    )
    log.contact("d1", utc(2, 12, month=12), Channel.EMAIL, template="reminder")  # tagged debt_advice
    log.contact("d1", utc(3, 12, month=12), Channel.EMAIL, template="payment_link")
    assert rules(log) == ["DEBT_ADVICE"]


def escalation(kind: ev.EscalationKind, at: datetime, rid: str) -> ev.EscalationRaised:
    return ev.EscalationRaised(
        debtor_id="d1",
        escalation_id=rid,
        account_id="a1",
        kind=kind,
        reason="days past due >= 90",
        days_past_due=90,
        currency="EUR",
        total_outstanding=Decimal("2400.00"),
        raised_at=at,
    )


def test_eu_enforcement_needs_a_forbearance_offer_14_days_before() -> None:
    log = Logbook()
    log.profile(
        "d1", utc(1, 12, month=12), timezone="Europe/Dublin", phones=("+353861234567",), jurisdictions=("EU",)
    )
    offered = utc(2, 12, month=12)
    log.contact("d1", offered, Channel.EMAIL, (S.SENT, S.DELIVERED), template="restructuring_offer")
    early = offered + timedelta(days=14) - timedelta(seconds=1)
    log.add(escalation(ev.EscalationKind.LEGAL, early, "e-early"), early)
    log.add(escalation(ev.EscalationKind.AGENCY_PLACEMENT, offered + timedelta(days=14), "e-ok"), early)
    found = audit(log.envelopes).violations
    assert [(v.rule, v.request_id) for v in found] == [("NO_FORBEARANCE", "e-early")]


def test_escalations_under_the_hard_stops_that_bar_them_are_found() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12), flags=("cease_communication",))
    log.add(escalation(ev.EscalationKind.LEGAL, utc(2, 12), "e-legal"), utc(2, 12))  # not barred by a cease
    log.add(escalation(ev.EscalationKind.FIELD_VISIT, utc(2, 12), "e-visit"), utc(2, 12))  # a visit is
    log.status("d1", utc(3, 12), ev.AccountStatus.DISPUTE_OPENED)
    log.add(escalation(ev.EscalationKind.AGENCY_PLACEMENT, utc(4, 12), "e-agency"), utc(4, 12))
    found = [(v.rule, v.request_id, v.detail) for v in audit(log.envelopes).violations]
    assert found == [
        ("ESCALATION_AFTER_STOP", "e-visit", "raised after cease_communication"),
        ("ESCALATION_AFTER_STOP", "e-agency", "raised after dispute"),
    ]


def test_from_2027_01_31_a_us_text_stop_also_stops_calls() -> None:
    before, after = datetime(2027, 1, 30, 14, tzinfo=UTC), datetime(2027, 1, 31, 15, tzinfo=UTC)
    log = Logbook()
    log.profile("d1", before - timedelta(days=2))
    log.consent("d1", before - timedelta(days=1), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_OUT)
    log.contact("d1", before, Channel.VOICE, (S.SENT, S.NO_ANSWER))
    call = log.contact("d1", after, Channel.VOICE, (S.SENT, S.NO_ANSWER))
    found = audit(log.envelopes).violations
    assert [(v.rule, v.request_id) for v in found] == [("AFTER_STOP", call)]
