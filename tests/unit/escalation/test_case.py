"""Escalation's handler, pure: ladders, stops, promises, fallback, thresholds, arms (via the replay)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, FailureKind, OutcomeStatus, ReasonCode, Relation
from services.core import codec
from services.core.runtime.handler import Output
from services.core.runtime.replay import Replay, Responder
from services.core.settings import DEPLOY_DIR, ConfigError
from services.escalation.service import Escalation, plan_offers
from services.escalation.simulate import allow_escalations
from services.escalation.state import Case
from services.escalation.strategy import Strategy, load_strategy

STANDARD = DEPLOY_DIR / "strategies" / "standard.toml"
DUE = date(2026, 6, 1)
NY = "America/New_York"


def strategy(**overrides: object) -> Strategy:
    base = load_strategy(STANDARD)
    return base.model_copy(update=overrides) if overrides else base


def champion_only() -> Strategy:
    from services.escalation.strategy import Arm, Experiment

    return strategy(experiment=Experiment(name="x", arms=[Arm(name="champion", share=100)]))


def env(event: BaseModel, at: datetime, id: str | None = None) -> codec.Envelope[BaseModel]:
    enc = codec.encode(event, source="/t", time=at, id=id)
    return codec.decode(enc.key, enc.value, enc.headers)


def profile(debtor: str = "d1", phone: str = "+12125550100") -> ev.DebtorProfileUpdated:
    return ev.DebtorProfileUpdated(
        debtor_id=debtor,
        name="Alex Doe",
        timezone=NY,
        jurisdictions=["US"],
        contact_points=[
            ev.ContactPoint(
                type=ev.ContactPointType.PHONE, address=phone, consents=[Channel.SMS, Channel.VOICE]
            ),
            ev.ContactPoint(
                type=ev.ContactPointType.EMAIL, address=f"{debtor}@example.com", consents=[Channel.EMAIL]
            ),
        ],
    )


def overdue(
    dpd: int,
    debtor: str = "d1",
    account: str = "a1",
    balance: str = "2400",
    due: date = DUE,
    currency: str = "USD",
) -> ev.AccountOverdue:
    return ev.AccountOverdue(
        debtor_id=debtor,
        account_id=account,
        product="personal_loan",
        currency=currency,
        amount_due=Decimal("120"),
        total_outstanding=Decimal(balance),
        days_past_due=dpd,
        due_date=due,
        as_of=datetime.combine(due + timedelta(days=dpd), datetime.min.time(), tzinfo=UTC)
        + timedelta(hours=2),
    )


def at_day(dpd: int, hour: int = 2) -> datetime:
    return datetime.combine(DUE + timedelta(days=dpd), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=hour
    )


def payment(payment_id: str, amount: int, outstanding_after: int, posted_at: datetime) -> ev.PaymentPosted:
    return ev.PaymentPosted(
        debtor_id="d1",
        account_id="a1",
        payment_id=payment_id,
        currency="USD",
        amount=Decimal(amount),
        outstanding_after=Decimal(outstanding_after),
        posted_at=posted_at,
    )


def promise(promise_id: str, promised_date: date, recorded_at: datetime) -> ev.PromiseToPayRecorded:
    """An agent-taken promise of 120 USD, the instalment due."""
    return ev.PromiseToPayRecorded(
        debtor_id="d1",
        account_id="a1",
        promise_id=promise_id,
        currency="USD",
        amount=Decimal(120),
        promised_date=promised_date,
        source=ev.PromiseSource.AGENT,
        recorded_at=recorded_at,
    )


class World:
    """A debtor whose core banking publishes AccountOverdue every night, fed through the replay."""

    def __init__(
        self,
        strat: Strategy | None = None,
        debtor: str = "d1",
        respond: Responder = allow_escalations,
        first: ev.DebtorProfileUpdated | None = None,
    ) -> None:
        self.handler = Escalation(strat or champion_only(), "https://pay.test/p")
        self.replay: Replay[Case] = Replay(self.handler, respond=respond)
        self.debtor = debtor
        self.replay.feed(env(first or profile(debtor), at_day(0, 1)), at_day(0, 1))

    def nights(
        self, first: int, last: int, account: str = "a1", balance: str = "2400", currency: str = "USD"
    ) -> None:
        for dpd in range(first, last + 1):
            event = overdue(dpd, self.debtor, account, balance, currency=currency)
            self.replay.feed(env(event, at_day(dpd)), at_day(dpd))

    def send(self, event: BaseModel, at: datetime) -> None:
        self.replay.feed(env(event, at), at)

    def requests(self) -> list[ev.ContactRequested]:
        return [o.event for _, o in self.replay.produced if isinstance(o.event, ev.ContactRequested)]

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [o.event for _, o in self.replay.produced if isinstance(o.event, kind)]


def steps(requests: list[ev.ContactRequested]) -> list[str]:
    return [r.step.rsplit("/", 1)[1] for r in requests]


def test_the_ladder_runs_in_order_over_30_days() -> None:
    world = World()
    world.nights(1, 30)
    reqs = world.requests()
    assert steps(reqs) == [
        "sms-reminder",
        "email-plan",
        "first-call",
        "sms-followup",
        "second-call",
        "email-notice",
    ]
    assert [r.channel for r in reqs] == [
        Channel.SMS,
        Channel.EMAIL,
        Channel.VOICE,
        Channel.SMS,
        Channel.VOICE,
        Channel.EMAIL,
    ]
    # Due at 09:00 New York time on the step's day, and expiring as configured.
    first = reqs[0]
    assert first.not_before == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)
    assert first.expires_at == first.not_before + timedelta(hours=48)  # type: ignore[operator]
    assert first.destination == "+12125550100"
    assert (first.strategy, first.strategy_version, first.arm) == ("standard", "2026.12.2", "champion")
    assert len({r.request_id for r in reqs}) == len(reqs)
    # SMS and voice carry a link, never amounts in the body: the variables carry them for the email templates.
    assert reqs[0].variables["payment_link"].startswith("https://pay.test/p/")
    assert reqs[1].variables["plan_3"] == "800.00"


def test_a_replayed_night_requests_nothing_twice() -> None:
    world = World()
    world.nights(1, 10)
    before = world.requests()
    world.nights(1, 10)  # the same events again: same ce_ids (content-derived) are skipped
    world.nights(10, 10)
    assert world.requests() == before


def test_full_payment_stops_and_cancels_partial_does_not() -> None:
    world = World()
    world.nights(1, 12)
    world.send(payment("p1", 50, 2350, at_day(12, 15)), at_day(12, 15))
    assert steps(world.requests())[-1] == "sms-followup"
    world.nights(13, 20)
    world.replay.run_until(at_day(20, 14))
    assert steps(world.requests())[-1] == "second-call"  # partial payment: the ladder goes on
    assert world.of(ev.ContactCancelled) == []
    world.send(payment("p2", 2350, 0, at_day(20, 15)), at_day(20, 15))
    [cancel] = world.of(ev.ContactCancelled)
    # No outcome came back for any request in this test, so every one is still pending and withdrawn.
    assert set(cancel.request_ids) == {r.request_id for r in world.requests()}
    assert cancel.reason is ev.CancelReason.PAID
    before = len(world.requests())
    world.replay.run_until(at_day(60))
    assert len(world.requests()) == before


def test_promise_pauses_then_broken_resumes_at_the_stronger_step() -> None:
    world = World()
    world.nights(1, 8)
    world.send(promise("ptp", DUE + timedelta(days=10), at_day(8, 16)), at_day(8, 16))
    assert world.of(ev.ContactCancelled)[0].reason is ev.CancelReason.PROMISE_TO_PAY
    sent = len(world.requests())
    world.nights(9, 12)
    assert len(world.requests()) == sent  # paused: no sms-followup on day 12
    world.nights(13, 14)  # promise date day 10, grace 2 days: broken on the morning of day 13
    assert steps(world.requests())[sent:] == ["second-call"]


def test_a_promise_broken_after_the_last_step_leaves_nothing_due_but_the_hand_offs() -> None:
    """The ladder is exhausted when the promise breaks: nothing to resume. What is left due is the legal
    hand-off at 90 days past due (then the agency's at 120), counted on escalation's own clock, and after
    them nothing, forever (the replay raises if a handler leaves work due after running it)."""
    one_segment = champion_only()
    early = one_segment.segments[0].model_copy(update={"max_dpd": 500})
    world = World(one_segment.model_copy(update={"segments": [early]}))
    world.nights(1, 29)
    world.send(promise("late", DUE + timedelta(days=31), at_day(29, 16)), at_day(29, 16))
    sent = len(world.requests())
    world.nights(30, 40)
    world.replay.run_until(at_day(41))
    assert len(world.requests()) == sent
    state = world.replay.state("d1")
    assert state is not None
    assert state.next_due() == datetime(2026, 8, 30, 13, 0, tzinfo=UTC)  # day 90, 09:00 in New York
    world.replay.run_until(at_day(400))
    assert len(world.requests()) == sent
    kinds = [e.kind for e in world.of(ev.EscalationRequested)]
    assert kinds == [ev.EscalationKind.LEGAL, ev.EscalationKind.AGENCY_PLACEMENT]
    state = world.replay.state("d1")
    assert state is not None
    assert state.next_due() is None


def test_kept_promise_sends_nothing_more() -> None:
    world = World()
    world.nights(1, 8)
    world.send(promise("ptp", DUE + timedelta(days=10), at_day(8, 16)), at_day(8, 16))
    world.send(payment("p1", 120, 2280, at_day(10, 15)), at_day(10, 15))
    sent = len(world.requests())
    world.nights(11, 30)
    assert len(world.requests()) == sent


@pytest.mark.parametrize("how", ["permanent_failure", "opt_out"])
def test_sms_failure_or_opt_out_moves_next_steps_to_the_fallback(how: str) -> None:
    world = World()
    world.nights(1, 1)
    world.replay.run_until(at_day(1, 14))
    [sms] = world.requests()
    if how == "permanent_failure":
        world.send(
            ev.ContactOutcome(
                debtor_id="d1",
                outcome_id="o1",
                request_id=sms.request_id,
                account_id="a1",
                channel=Channel.SMS,
                status=OutcomeStatus.FAILED,
                final=True,
                error_code="21211",
                failure=FailureKind.INVALID_DESTINATION,
                occurred_at=at_day(1, 14),
            ),
            at_day(1, 14),
        )
    else:
        world.send(
            ev.ConsentChanged(
                debtor_id="d1",
                address=sms.destination,
                channel=Channel.SMS,
                change=ev.ConsentChange.OPT_OUT,
                source=ev.ConsentSource.SMS_REPLY,
                occurred_at=at_day(1, 14),
            ),
            at_day(1, 14),
        )
    world.nights(2, 12)
    world.replay.run_until(at_day(12, 20))
    followup = world.requests()[-1]
    assert followup.step.endswith("sms-followup")
    assert followup.channel is Channel.EMAIL  # the first usable channel in the fallback order


def test_thresholds_raise_legal_and_agency_exactly_once_and_legal_stops_outreach() -> None:
    world = World()
    world.nights(85, 125)
    kinds = [e.kind for e in world.of(ev.EscalationRequested)]
    assert kinds.count(ev.EscalationKind.LEGAL) == 1
    assert kinds.count(ev.EscalationKind.AGENCY_PLACEMENT) == 1
    legal_day = next(
        e.days_past_due for e in world.of(ev.EscalationRequested) if e.kind is ev.EscalationKind.LEGAL
    )
    assert legal_day == 90
    after_legal = [r for r in world.requests() if r.requested_at >= at_day(90)]
    assert after_legal == []


def test_field_visit_only_above_the_balance() -> None:
    small, large = World(debtor="d1"), World(debtor="d2")
    small.nights(59, 61, balance="2400")
    large.nights(59, 61, balance="25000")
    assert ev.EscalationKind.FIELD_VISIT not in [e.kind for e in small.of(ev.EscalationRequested)]
    assert [e.kind for e in large.of(ev.EscalationRequested)] == [ev.EscalationKind.FIELD_VISIT]


@pytest.mark.parametrize(
    ("currency", "balance", "visited"),
    [
        ("USD", "10000", True),
        ("USD", "9999.99", False),
        ("CNY", "25000", False),  # above 10,000 but below the CNY threshold
        ("CNY", "70000", True),
        ("GBP", "8000", True),
        ("JPY", "100000000", False),  # no JPY threshold: the rule never fires for a yen account
    ],
)
def test_the_field_visit_threshold_is_the_one_of_the_accounts_currency(
    currency: str, balance: str, visited: bool
) -> None:
    world = World()
    world.nights(59, 61, balance=balance, currency=currency)
    kinds = [e.kind for e in world.of(ev.EscalationRequested)]
    assert (ev.EscalationKind.FIELD_VISIT in kinds) is visited


def test_a_restructuring_threshold_holds_for_broken_promises_and_hardship_too() -> None:
    from services.escalation.strategy import EscalationRule

    rule = EscalationRule(
        kind=ev.EscalationKind.RESTRUCTURING_OFFER, on_hardship=True, min_balance={"USD": "5000"}
    )
    for balance, raised in (("2400", False), ("6000", True)):
        world = World(strategy(escalations=[rule]), debtor=f"d{balance}")
        world.nights(3, 3, balance=balance)
        world.send(
            ev.AccountStatusChanged(
                debtor_id=f"d{balance}",
                account_id="a1",
                status=ev.AccountStatus.HARDSHIP,
                effective_at=at_day(3, 5),
            ),
            at_day(3, 5),
        )
        kinds = [e.kind for e in world.of(ev.EscalationRequested)]
        assert (ev.EscalationKind.RESTRUCTURING_OFFER in kinds) is raised


def test_arms_split_by_stable_hash_within_two_points() -> None:
    experiment = strategy().experiment
    arms = [experiment.arm_for(f"debtor-{i}") for i in range(10_000)]
    share = arms.count("early-voice") / len(arms) * 100
    assert abs(share - 20) <= 2
    assert arms == [experiment.arm_for(f"debtor-{i}") for i in range(10_000)]


def test_a_new_strategy_version_never_repeats_a_requested_step() -> None:
    world = World()
    world.nights(1, 7)
    world.replay.run_until(at_day(7, 20))
    before = world.requests()
    assert steps(before)[-1] == "first-call"
    world.handler.strategy = world.handler.strategy.model_copy(update={"version": "2027.1"})
    world.nights(1, 12)  # core banking replays its nights: nothing already requested comes again
    world.replay.run_until(at_day(12, 20))
    after = world.requests()[len(before) :]
    assert steps(after) == ["sms-followup"]
    assert after[0].strategy_version == "2027.1"


def test_plan_offers_repay_the_balance() -> None:
    offers = dict(plan_offers(Decimal("1000.00"), [3, 6, 12]))
    assert offers == {3: Decimal("333.34"), 6: Decimal("166.67"), 12: Decimal("83.34")}
    assert all(amount * count >= Decimal("1000.00") for count, amount in offers.items())


def test_bad_strategy_file_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(STANDARD.read_text().replace("expires_hours = 48", "expires_hours = 0", 1))
    with pytest.raises(ConfigError, match=r"bad\.toml: segments\[0\]\.steps\[0\]\.expires_hours"):
        load_strategy(bad)


# ---- reversals ------------------------------------------------------------------------------------


def reversal(payment_id: str, amount: int, at: datetime) -> ev.PaymentReversed:
    return ev.PaymentReversed(
        debtor_id="d1",
        account_id="a1",
        payment_id=payment_id,
        currency="USD",
        amount=Decimal(amount),
        reversed_at=at,
    )


def test_reversing_the_payment_in_full_reopens_the_cycles_ladder() -> None:
    world = World()
    world.nights(1, 12)
    world.replay.run_until(at_day(12, 14))
    world.send(payment("p-full", 2400, 0, at_day(12, 15)), at_day(12, 15))
    world.replay.run_until(at_day(19))
    assert steps(world.requests())[-1] == "sms-followup"  # stopped: nothing on day 14 or after
    world.send(reversal("p-full", 2400, at_day(14, 15)), at_day(14, 15))
    # Core banking publishes nothing more: the ladder goes on from the latest step due on its own clock.
    world.replay.run_until(at_day(20, 14))
    assert steps(world.requests())[-1] == "second-call"
    state = world.replay.state("d1")
    assert state is not None
    account = state.accounts["a1"]
    assert (account.total_outstanding, account.stopped_by, account.stopped_at) == (Decimal(2400), None, None)
    # The same cycle: the steps sent before the payment are not sent again.
    assert len(steps(world.requests())) == len(set(steps(world.requests())))


def test_reversing_the_payment_in_full_also_undoes_the_closure_that_followed_it() -> None:
    world = World()
    world.nights(1, 8)
    world.send(payment("p-full", 2400, 0, at_day(8, 15)), at_day(8, 15))
    closed = ev.AccountStatusChanged(
        debtor_id="d1", account_id="a1", status=ev.AccountStatus.CLOSED, effective_at=at_day(8, 15)
    )
    world.send(closed, at_day(8, 16))
    world.send(reversal("p-full", 2400, at_day(9, 15)), at_day(9, 15))
    world.replay.run_until(at_day(12, 14))
    assert steps(world.requests())[-1] == "sms-followup"


def test_reversing_any_other_payment_reopens_nothing() -> None:
    world = World()
    world.nights(1, 8)
    world.send(payment("p-part", 400, 2000, at_day(8, 14)), at_day(8, 14))
    world.send(payment("p-full", 2000, 0, at_day(8, 15)), at_day(8, 15))
    sent = len(world.requests())
    world.send(reversal("p-part", 400, at_day(9, 15)), at_day(9, 15))  # the earlier, partial one
    world.replay.run_until(at_day(40))
    assert len(world.requests()) == sent
    state = world.replay.state("d1")
    assert state is not None and state.accounts["a1"].total_outstanding == Decimal(400)


# ---- an overdue published once (Fineract) --------------------------------------------------------


def test_a_fineract_fed_account_advances_with_no_further_overdue() -> None:
    """Fineract raises its overdue event once per instalment and sends nothing daily while the loan stays
    overdue: the ladder, the later segment and the hand-off follow from the due date on escalation's clock."""
    from services.fineract.encode import Encoder
    from services.fineract.settings import FineractSettings
    from services.fineract.translate import Translated, translate

    fineract = Encoder()
    settings = FineractSettings(timezone=NY, phone_consents="sms,voice", email_consents="email")
    created = at_day(1, 1)
    loan = translate(fineract.loan(42, 17, created, outstanding=Decimal(2400)).value, {}, settings, created)
    assert isinstance(loan, Translated)
    records = [
        fineract.client(17, created, name="Alex Doe", mobile="+12125550100", email="alex@example.com"),
        fineract.overdue(42, created, due_date=DUE, past_due=Decimal(120)),
    ]
    handler = Escalation(champion_only(), "https://pay.test/p")
    replay: Replay[Case] = Replay(handler, respond=allow_escalations)
    for record in records:
        translated = translate(record.value, loan.changed, settings, created)
        assert isinstance(translated, Translated)
        for emitted in translated.events:
            replay.feed(env(emitted.event, emitted.ce_time, emitted.ce_id), created)
    state = replay.state("17")
    assert state is not None and state.accounts["42"].days_past_due == 1  # the only overdue Fineract sent
    replay.run_until(at_day(130))
    requests = [o.event for _, o in replay.produced if isinstance(o.event, ev.ContactRequested)]
    assert steps(requests) == [
        "sms-reminder",
        "email-plan",
        "first-call",
        "sms-followup",
        "second-call",
        "email-notice",
        "sms-late",
        "late-call",
        "email-late",
        "late-call-2",
        "sms-final",
    ]
    # Each at 09:00 New York time on its day past due, counted from the due date.
    assert requests[6].not_before == datetime(2026, 7, 2, 13, 0, tzinfo=UTC)  # day 31
    raised = [o.event for _, o in replay.produced if isinstance(o.event, ev.EscalationRequested)]
    assert [(e.kind, e.days_past_due) for e in raised] == [
        (ev.EscalationKind.LEGAL, 90),
        (ev.EscalationKind.AGENCY_PLACEMENT, 120),
    ]
    replay.close()


# --- payments: the amount past due ends the cycle --------------------------------------------------------


def test_paying_the_amount_past_due_ends_the_cycle_at_once_and_a_partial_payment_does_not() -> None:
    world = World()
    world.nights(1, 8)
    world.send(payment("part", 70, 2330, at_day(8, 15)), at_day(8, 15))  # 70 of the 120 due
    world.nights(9, 9)  # core banking's overdue of that night still says 120 due ...
    world.send(payment("rest", 50, 2280, at_day(9, 15)), at_day(9, 15))  # ... so 50 more does not cure it
    assert not world.of(ev.ContactCancelled)
    world.send(payment("cure", 70, 2210, at_day(9, 16)), at_day(9, 16))
    [cancelled] = world.of(ev.ContactCancelled)
    assert cancelled.reason is ev.CancelReason.CURED
    sent = len(world.requests())
    world.nights(10, 30)  # the same instalment's overdue, published late or by a stale batch
    world.replay.run_until(at_day(120))
    assert len(world.requests()) == sent
    assert world.of(ev.EscalationRequested) == []  # no legal or agency threshold ages on a cured cycle


def test_a_new_due_date_after_a_cure_starts_a_new_cycle_and_a_reversed_cure_reopens() -> None:
    world = World()
    world.nights(1, 3)
    world.send(payment("cure", 120, 2280, at_day(3, 15)), at_day(3, 15))
    sent = len(world.requests())
    later = DUE + timedelta(days=30)
    world.send(overdue(1, due=later), at_day(31))
    world.replay.run_until(at_day(32, 20))
    assert len(world.requests()) > sent
    # Reversed, the payment that cured the new cycle owes again: its ladder goes on.
    world = World()
    world.nights(1, 3)
    world.send(payment("cure", 120, 2280, at_day(3, 15)), at_day(3, 15))
    sent = len(world.requests())
    reversal = ev.PaymentReversed(
        debtor_id="d1",
        account_id="a1",
        payment_id="cure",
        currency="USD",
        amount=Decimal(120),
        reversed_at=at_day(4, 15),
    )
    world.send(reversal, at_day(4, 15))
    world.replay.run_until(at_day(20))
    assert len(world.requests()) > sent


def test_the_shipped_sample_debtor_who_pays_the_amount_due_gets_nothing_after_it() -> None:
    from services.core import eventlines
    from services.core.clock import ManualClock
    from services.escalation.simulate import replay

    with (DEPLOY_DIR / "samples" / "events.jsonl").open(encoding="utf-8") as lines:
        good, bad = eventlines.parse(lines, ManualClock(datetime(2000, 1, 1, tzinfo=UTC)))
    assert not bad
    envelopes = [codec.decode(p.encoded.key, p.encoded.value, p.encoded.headers) for p in good]
    [paid] = [
        e.event for e in envelopes if isinstance(e.event, ev.PaymentPosted) and e.event.debtor_id == "d1001"
    ]
    assert (paid.amount, paid.outstanding_after) == (
        Decimal("250.00"),
        Decimal("4550.00"),
    )  # not paid in full
    run = replay(Escalation(load_strategy(STANDARD), "https://pay.test/p"), envelopes, None)
    try:
        after = [
            event
            for when, output in run.produced
            if isinstance(event := output.event, ev.ContactRequested)
            and event.debtor_id == "d1001"
            and when > paid.posted_at
        ]
    finally:
        run.close()
    assert after == []


# --- hand-offs the gatekeeper decides -------------------------------------------------------------------


def answer(
    decision: DecisionKind, reasons: list[ReasonCode] | None = None, *, only: str | None = None
) -> Responder:
    """The gatekeeper as a test needs it: ``decision`` for every escalation request (of the ``only`` kind;
    the others allowed), with ``reasons``; a request asked again (a later attempt) is allowed."""
    first: set[tuple[str, str]] = set()

    def respond(output: Output, at: datetime) -> list[BaseModel]:
        request = output.event
        if not isinstance(request, ev.EscalationRequested):
            return []
        repeated = (request.account_id, request.kind.value) in first
        first.add((request.account_id, request.kind.value))
        chosen = decision if (only in (None, request.kind.value) and not repeated) else DecisionKind.ALLOW
        return [
            ev.ComplianceDecision(
                debtor_id=request.debtor_id,
                decision_id=f"d-{request.request_id}",
                request_id=request.request_id,
                account_id=request.account_id,
                escalation=request.kind,
                decision=chosen,
                reasons=reasons or [] if chosen is not DecisionKind.ALLOW else [],
                decided_at=at,
            )
        ]

    return respond


def test_outreach_waits_for_the_answer_to_a_hand_off_and_goes_on_if_refused() -> None:
    silent: Responder = lambda output, at: []  # noqa: E731 - a gatekeeper that has not answered yet
    world = World(respond=silent)
    world.nights(85, 95)
    asked = [e for e in world.of(ev.EscalationRequested) if e.kind is ev.EscalationKind.LEGAL]
    assert len(asked) == 1 and asked[0].days_past_due == 90
    assert [r for r in world.requests() if r.requested_at >= at_day(90)] == []  # held, not sent
    refused = World(respond=answer(DecisionKind.BLOCK, [ReasonCode.DISPUTE], only="legal"))
    refused.nights(85, 100)
    assert [r for r in refused.requests() if r.requested_at >= at_day(90)] != []  # the ladder goes on
    assert [e.kind for e in refused.of(ev.EscalationRequested)].count(ev.EscalationKind.LEGAL) == 1


def test_a_forbearance_refusal_sends_the_offer_first_then_asks_again_once_it_reached_the_debtor() -> None:
    world = World(respond=answer(DecisionKind.BLOCK, [ReasonCode.FORBEARANCE_REQUIRED], only="legal"))
    world.nights(85, 90)
    world.replay.run_until(at_day(90, 20))
    [offer] = [r for r in world.requests() if r.step.endswith("/forbearance-offer")]
    assert (offer.template, offer.channel) == ("restructuring_offer", Channel.EMAIL)
    assert [e.kind for e in world.of(ev.EscalationRequested)].count(ev.EscalationKind.LEGAL) == 1
    delivered = ev.ContactOutcome(
        debtor_id="d1",
        outcome_id="o-offer",
        request_id=offer.request_id,
        account_id="a1",
        channel=Channel.EMAIL,
        status=OutcomeStatus.DELIVERED,
        final=True,
        occurred_at=at_day(90, 21),
    )
    world.send(delivered, at_day(90, 21))
    legal = [e for e in world.of(ev.EscalationRequested) if e.kind is ev.EscalationKind.LEGAL]
    assert len(legal) == 2 and legal[0].request_id != legal[1].request_id
    world.nights(91, 100)  # asked again once allowed, the case is handed off
    assert [r for r in world.requests() if r.requested_at > at_day(90, 21)] == []


def _with_emergency_contact(statuses: list[OutcomeStatus]) -> World:
    """The standard strategy over 40 nights, the debtor's calls ending with ``statuses`` in turn."""
    own = [Channel.SMS, Channel.VOICE]
    points = [
        ev.ContactPoint(type=ev.ContactPointType.PHONE, address="+12125550100", consents=own),
        ev.ContactPoint(
            type=ev.ContactPointType.PHONE,
            address="+12125550177",
            consents=[Channel.SMS],
            relation=Relation.EMERGENCY_CONTACT,
        ),
    ]
    world = World(strategy(), first=profile("d1").model_copy(update={"contact_points": points}))
    world.nights(1, 40)
    world.replay.run_until(at_day(41))
    calls = [r for r in world.requests() if r.channel is Channel.VOICE]
    assert len(calls) >= len(statuses)
    for n, (call, status) in enumerate(zip(calls, statuses, strict=False)):
        at = max(call.not_before or call.requested_at, world.replay.clock.now())
        outcome = ev.ContactOutcome(
            debtor_id="d1",
            outcome_id=f"o-{n}",
            request_id=call.request_id,
            account_id="a1",
            channel=Channel.VOICE,
            status=status,
            final=True,
            occurred_at=at,
        )
        world.send(outcome, at)
    return world


def test_three_unanswered_calls_ask_once_for_the_emergency_contact_with_nothing_but_the_name() -> None:
    world = _with_emergency_contact([OutcomeStatus.NO_ANSWER, OutcomeStatus.BUSY, OutcomeStatus.NO_ANSWER])
    third_party = [r for r in world.requests() if r.destination == "+12125550177"]
    [ask] = third_party
    assert (ask.template, ask.channel) == ("callback_request", Channel.SMS)
    assert ask.variables == {"name": "Alex Doe"}  # nothing of the debt travels to a third party
    # The ladder itself never picks another person's point.
    assert all(r.destination == "+12125550100" for r in world.requests() if r.request_id != ask.request_id)
    reached = _with_emergency_contact(
        [OutcomeStatus.NO_ANSWER, OutcomeStatus.CONVERSATION, OutcomeStatus.BUSY]
    )
    assert [r for r in reached.requests() if r.destination == "+12125550177"] == []


def _email_outcome(
    request_id: str, status: OutcomeStatus, at: datetime, **fields: object
) -> ev.ContactOutcome:
    return ev.ContactOutcome(
        debtor_id="d1",
        outcome_id=f"o-{request_id}-{status.value}",
        request_id=request_id,
        account_id="a1",
        channel=Channel.EMAIL,
        status=status,
        final=True,
        occurred_at=at,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("bounced", [True, False])
def test_a_hard_bounce_after_the_relay_accepted_the_email_moves_next_emails_to_the_fallback(
    bounced: bool,
) -> None:
    world = World()
    world.nights(1, 3)
    world.replay.run_until(at_day(3, 14))
    [email] = [r for r in world.requests() if r.channel is Channel.EMAIL]
    assert email.step.endswith("email-plan")
    world.send(_email_outcome(email.request_id, OutcomeStatus.SENT, at_day(3, 14)), at_day(3, 14))
    if bounced:
        # Days later the recipient's server sends its DSN: 5.1.1, no such mailbox.
        bounce = _email_outcome(
            email.request_id,
            OutcomeStatus.UNDELIVERED,
            at_day(5, 14),
            error_code="5.1.1",
            failure=FailureKind.UNREACHABLE_DESTINATION,
        )
        world.send(bounce, at_day(5, 14))
    world.nights(4, 28)
    world.replay.run_until(at_day(28, 20))
    notice = world.requests()[-1]
    assert notice.step.endswith("email-notice")
    assert notice.channel is (Channel.SMS if bounced else Channel.EMAIL)
