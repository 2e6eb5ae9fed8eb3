"""Escalation and gatekeeper together on the real broker and the stepped clock."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, FailureKind, OutcomeStatus, ReasonCode
from services.core.settings import DEPLOY_DIR
from services.escalation.strategy import load_strategy
from tests.e2e.conftest import DUE, NY_PHONE, Pipeline, night, overdue, profile

NY = ZoneInfo("America/New_York")
EXPERIMENT = load_strategy(DEPLOY_DIR / "strategies" / "standard.toml").experiment


def champions(prefix: str, count: int = 1) -> list[str]:
    ids = (f"{prefix}{i}" for i in range(1000))
    return [d for d in ids if EXPERIMENT.arm_for(d) == "champion"][:count]


def step_names(requests: list[ev.ContactRequested]) -> list[str]:
    return [r.step.rsplit("/", 1)[1] for r in requests]


async def test_ladder_over_30_days_in_order_inside_the_rules(pipeline: Pipeline) -> None:
    [debtor] = champions("lad")
    await pipeline.send(profile(debtor))
    await pipeline.nights([debtor], 1, 30)
    await pipeline.advance(night(30) + timedelta(hours=20))
    requests = pipeline.requests(debtor)
    assert step_names(requests) == [
        "sms-reminder",
        "email-plan",
        "first-call",
        "sms-followup",
        "second-call",
        "email-notice",
    ]
    approvals = {a.request_id: a for a in pipeline.approvals(debtor)}
    assert set(approvals) == {r.request_id for r in requests}
    for approval in approvals.values():
        local = approval.approved_at.astimezone(NY).time()
        assert time(8) <= local < time(21), approval
        assert approval.approved_at < approval.valid_until
    assert all(d.decision is not DecisionKind.BLOCK for d in pipeline.decisions(debtor))


async def test_full_payment_on_day_12_stops_everything_partial_does_not(pipeline: Pipeline) -> None:
    payer, partial = champions("pay", 2)
    # Mornings are inconvenient for the payer: day 12's 09:00 request is deferred to 12:00 at the gatekeeper.
    await pipeline.send(profile(payer, inconvenient=[{"start": "08:00", "end": "12:00"}]), profile(partial))
    await pipeline.nights([payer, partial], 1, 12)
    await pipeline.advance(datetime.combine(DUE + timedelta(days=12), time(10), tzinfo=NY))
    deferred = [d for d in pipeline.decisions(payer) if d.decision is DecisionKind.DEFER]
    assert deferred and deferred[-1].reasons == [ReasonCode.QUIET_HOURS]
    held = deferred[-1].request_id
    assert not [a for a in pipeline.approvals(payer) if a.request_id == held]
    await pipeline.send(
        ev.PaymentPosted(
            debtor_id=payer,
            account_id="a1",
            payment_id="p-full",
            currency="USD",
            amount=Decimal(2400),
            outstanding_after=Decimal(0),
            posted_at=pipeline.now,
        ),
        ev.PaymentPosted(
            debtor_id=partial,
            account_id="a1",
            payment_id="p-part",
            currency="USD",
            amount=Decimal(100),
            outstanding_after=Decimal(2300),
            posted_at=pipeline.now,
        ),
    )
    last = [d for d in pipeline.decisions(payer) if d.request_id == held][-1]
    assert (last.decision, last.reasons) == (DecisionKind.BLOCK, [ReasonCode.PAID])
    payer_requests = len(pipeline.requests(payer))
    await pipeline.nights([partial], 13, 30)
    await pipeline.advance(night(30) + timedelta(hours=20))
    assert len(pipeline.requests(payer)) == payer_requests
    assert not [a for a in pipeline.approvals(payer) if a.request_id == held]
    assert step_names(pipeline.requests(partial))[-2:] == ["second-call", "email-notice"]


async def test_promise_pauses_broken_resumes_stronger_kept_sends_nothing(pipeline: Pipeline) -> None:
    breaker, keeper = champions("ptp", 2)
    await pipeline.send(profile(breaker), profile(keeper))
    await pipeline.nights([breaker, keeper], 1, 8)
    promised = DUE + timedelta(days=10)
    await pipeline.send(
        *(
            ev.PromiseToPayRecorded(
                debtor_id=d,
                account_id="a1",
                promise_id=f"ptp-{d}",
                currency="USD",
                amount=Decimal(120),
                promised_date=promised,
                source=ev.PromiseSource.AGENT,
                recorded_at=pipeline.now,
            )
            for d in (breaker, keeper)
        )
    )
    before = {d: len(pipeline.requests(d)) for d in (breaker, keeper)}
    await pipeline.nights([breaker, keeper], 9, 10)
    await pipeline.send(
        ev.PaymentPosted(
            debtor_id=keeper,
            account_id="a1",
            payment_id="kept",
            currency="USD",
            amount=Decimal(120),
            outstanding_after=Decimal(2280),
            posted_at=pipeline.now,
        )
    )
    await pipeline.nights([breaker, keeper], 11, 12)
    assert {d: len(pipeline.requests(d)) for d in (breaker, keeper)} == before  # paused: no sms-followup
    await pipeline.nights([breaker, keeper], 13, 30)
    await pipeline.advance(night(30) + timedelta(hours=20))
    assert step_names(pipeline.requests(breaker))[before[breaker]] == "second-call"
    assert len(pipeline.requests(keeper)) == before[keeper]


async def test_permanent_sms_failure_or_opt_out_moves_next_steps_to_the_fallback(pipeline: Pipeline) -> None:
    failing, opting = champions("fb", 2)
    await pipeline.send(profile(failing), profile(opting))
    await pipeline.nights([failing, opting], 1, 2)
    first = {d: pipeline.requests(d)[0] for d in (failing, opting)}
    assert {r.channel for r in first.values()} == {Channel.SMS}
    await pipeline.send(
        ev.ContactOutcome(
            debtor_id=failing,
            outcome_id="o-21211",
            request_id=first[failing].request_id,
            account_id="a1",
            channel=Channel.SMS,
            status=OutcomeStatus.FAILED,
            final=True,
            error_code="21211",
            failure=FailureKind.INVALID_DESTINATION,
            occurred_at=pipeline.now,
        ),
        ev.ConsentChanged(
            debtor_id=opting,
            address=NY_PHONE,
            channel=Channel.SMS,
            change=ev.ConsentChange.OPT_OUT,
            source=ev.ConsentSource.SMS_REPLY,
            occurred_at=pipeline.now,
        ),
    )
    await pipeline.nights([failing, opting], 3, 12)
    await pipeline.advance(night(12) + timedelta(hours=20))
    for debtor in (failing, opting):
        followup = next(r for r in pipeline.requests(debtor) if r.step.endswith("sms-followup"))
        assert followup.channel is Channel.EMAIL
        assert followup.destination == f"{debtor}@example.com"
    # The failed number is not called either; the opted-out debtor may still be called (voice consent holds).
    calls = [r for r in pipeline.requests(failing) if r.step.endswith("first-call")]
    assert calls and calls[0].channel is not Channel.VOICE


async def test_dpd_thresholds_raise_legal_and_agency_exactly_once(pipeline: Pipeline) -> None:
    [debtor] = champions("thr")
    await pipeline.send(profile(debtor))
    await pipeline.nights([debtor], 86, 122)
    raised = [e for e in pipeline.tail.of(ev.EscalationRaised) if e.debtor_id == debtor]
    kinds = [e.kind for e in raised]
    assert kinds.count(ev.EscalationKind.LEGAL) == 1
    assert kinds.count(ev.EscalationKind.AGENCY_PLACEMENT) == 1
    assert [e.days_past_due for e in raised if e.kind is ev.EscalationKind.LEGAL] == [90]
    assert [e.days_past_due for e in raised if e.kind is ev.EscalationKind.AGENCY_PLACEMENT] == [120]
    assert all(r.requested_at < night(90) for r in pipeline.requests(debtor))


async def test_what_if_replay_reproduces_the_service(pipeline: Pipeline) -> None:
    from services.core import codec
    from services.escalation.service import Escalation
    from services.escalation.simulate import replay

    debtors = [f"wi{i}" for i in range(6)]
    published = [profile(d) for d in debtors]
    await pipeline.send(*published)
    envelopes = [(pipeline.now, e) for e in published]
    for dpd in range(1, 21):
        await pipeline.advance(night(dpd))
        batch = [overdue(d, dpd) for d in debtors]
        await pipeline.send(*batch)
        envelopes.extend((pipeline.now, e) for e in batch)
    end = night(20) + timedelta(hours=20)
    await pipeline.advance(end)
    service = sorted(
        (r.request_id, r.not_before, r.channel, r.arm) for d in debtors for r in pipeline.requests(d)
    )

    strategy = load_strategy(pipeline.strategy)
    handler = Escalation(strategy, "https://pay.example.com/p")
    decoded = []
    for at, event in envelopes:
        enc = codec.encode(event, source="/tests", time=at)
        decoded.append(codec.decode(enc.key, enc.value, enc.headers))
    run = replay(handler, decoded, until=end)
    run.close()
    simulated = sorted(
        (o.event.request_id, o.event.not_before, o.event.channel, o.event.arm)
        for _, o in run.produced
        if isinstance(o.event, ev.ContactRequested)
    )
    assert len(service) > 20
    assert simulated == service
