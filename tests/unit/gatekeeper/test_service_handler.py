"""The gatekeeper service's handler, pure: what a stream adds on top of the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode, RequestKind
from services.core import codec
from services.core.runtime.handler import Output
from services.core.settings import DEPLOY_DIR
from services.gatekeeper.policy import PolicyBook
from services.gatekeeper.service import Gatekeeper
from services.gatekeeper.state import GatekeeperState
from services.messaging.templates import Catalog

PHONE = "+12125550100"
NOON = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York, a Wednesday
NIGHT = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)  # 23:00 in New York


class Harness:
    def __init__(self, paused: set[str] | None = None) -> None:
        self.paused = paused or set()
        self.handler = Gatekeeper(
            PolicyBook.load(DEPLOY_DIR / "policies"),
            lambda r: r.channel.value in self.paused,
            Catalog.load(DEPLOY_DIR / "templates").tags,
        )
        self.state: GatekeeperState | None = None
        self.out: list[Output] = []

    def feed(self, event: BaseModel, at: datetime, ce_time: datetime | None = None) -> None:
        enc = codec.encode(event, source="/t", time=ce_time or at)
        result = self.handler.apply("d1", self.state, codec.decode(enc.key, enc.value, enc.headers), at)
        self.state, self.out = result.state, self.out + result.outputs

    def due(self, at: datetime) -> None:
        assert self.state is not None
        result = self.handler.due("d1", self.state, at)
        self.state, self.out = result.state, self.out + result.outputs

    def decisions(self, rid: str) -> list[ev.ComplianceDecision]:
        return [
            o.event
            for o in self.out
            if isinstance(o.event, ev.ComplianceDecision) and o.event.request_id == rid
        ]

    def approvals(self) -> list[ev.ContactApproved]:
        return [o.event for o in self.out if isinstance(o.event, ev.ContactApproved)]


def profile(**extra: object) -> ev.DebtorProfileUpdated:
    fields: dict[str, object] = {
        "debtor_id": "d1",
        "timezone": "America/New_York",
        "jurisdictions": ["US"],
        "contact_points": [{"type": "phone", "address": PHONE, "consents": ["sms", "voice"]}],
    }
    return ev.DebtorProfileUpdated.model_validate(fields | extra)


def request(rid: str, channel: Channel = Channel.SMS, **extra: object) -> ev.ContactRequested:
    return ev.ContactRequested.model_validate(
        {
            "debtor_id": "d1",
            "request_id": rid,
            "account_id": "a1",
            "channel": channel,
            "destination": PHONE,
            "template": "reminder",
            "strategy": "standard",
            "strategy_version": "1",
            "arm": "champion",
            "requested_at": NOON,
        }
        | extra
    )


def test_an_older_profile_snapshot_is_ignored() -> None:
    gk = Harness()
    gk.feed(profile(flags=["attorney"]), NOON, ce_time=NOON)
    gk.feed(profile(), NOON, ce_time=NOON - timedelta(hours=1))  # late, older snapshot without the flag
    gk.feed(request("r1"), NOON)
    assert gk.decisions("r1")[0].reasons == [ReasonCode.ATTORNEY]


def test_the_debtors_own_opt_out_wins_over_later_profile_snapshots_until_opt_in() -> None:
    gk = Harness()
    gk.feed(profile(), NOON)
    gk.feed(
        ev.ConsentChanged(
            debtor_id="d1",
            address=PHONE,
            channel=Channel.SMS,
            change=ev.ConsentChange.OPT_OUT,
            source=ev.ConsentSource.SMS_REPLY,
            occurred_at=NOON,
        ),
        NOON,
    )
    gk.feed(profile(), NOON + timedelta(minutes=1))  # core banking still lists sms consent
    gk.feed(request("r1"), NOON + timedelta(minutes=2))
    assert gk.decisions("r1")[0].reasons == [ReasonCode.OPTED_OUT]
    gk.feed(
        ev.ConsentChanged(
            debtor_id="d1",
            address=PHONE,
            channel=Channel.SMS,
            change=ev.ConsentChange.OPT_IN,
            source=ev.ConsentSource.SMS_REPLY,
            occurred_at=NOON + timedelta(minutes=3),
        ),
        NOON + timedelta(minutes=3),
    )
    gk.feed(request("r2"), NOON + timedelta(minutes=4))
    assert gk.decisions("r2")[0].decision is DecisionKind.ALLOW


def test_redelivered_request_yields_no_second_decision_even_after_it_was_deferred_and_approved() -> None:
    gk = Harness()
    gk.feed(profile(), NIGHT)
    gk.feed(request("r1"), NIGHT)
    gk.due(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))
    gk.feed(request("r1"), datetime(2026, 6, 10, 12, 5, tzinfo=UTC))
    assert [d.decision for d in gk.decisions("r1")] == [DecisionKind.DEFER, DecisionKind.ALLOW]
    assert len(gk.approvals()) == 1


def test_approval_counts_at_once_and_an_unsent_one_leaves_the_ledger() -> None:
    gk = Harness()
    gk.feed(profile(), NOON)
    gk.feed(request("r1"), NOON)
    gk.feed(request("r2"), NOON + timedelta(minutes=1))  # BANK: one SMS per local day, the approval counts
    assert gk.decisions("r2")[0].reasons == [ReasonCode.FREQUENCY_CAP]
    gk.feed(
        ev.ContactOutcome(
            debtor_id="d1",
            outcome_id="o1",
            request_id="r1",
            account_id="a1",
            channel=Channel.SMS,
            status=OutcomeStatus.EXPIRED,
            final=True,
            occurred_at=NOON + timedelta(minutes=2),
        ),
        NOON + timedelta(minutes=2),
    )
    gk.feed(request("r3"), NOON + timedelta(minutes=3))
    assert gk.decisions("r3")[0].decision is DecisionKind.ALLOW


def test_a_hard_stop_in_a_new_profile_blocks_deferred_requests_at_once() -> None:
    gk = Harness()
    gk.feed(profile(), NIGHT)
    gk.feed(request("r1"), NIGHT)
    gk.feed(profile(flags=["deceased"]), NIGHT + timedelta(minutes=5))
    assert [(d.decision, d.reasons) for d in gk.decisions("r1")] == [
        (DecisionKind.DEFER, [ReasonCode.QUIET_HOURS]),
        (DecisionKind.BLOCK, [ReasonCode.DECEASED]),
    ]
    assert gk.state is not None and gk.state.deferred == []


def test_a_cancellation_that_arrives_before_its_request_still_blocks_it() -> None:
    gk = Harness()
    gk.feed(profile(), NOON)
    gk.feed(
        ev.ContactCancelled(
            debtor_id="d1",
            account_id="a1",
            request_ids=["late"],
            reason=ev.CancelReason.PROMISE_TO_PAY,
            cancelled_at=NOON,
        ),
        NOON,
    )
    gk.feed(request("late"), NOON)
    assert gk.decisions("late")[0].reasons == [ReasonCode.CANCELLED]


def test_a_reply_passes_quiet_hours_but_not_a_hard_stop() -> None:
    gk = Harness()
    gk.feed(profile(), NIGHT)
    gk.feed(request("reply", kind=RequestKind.REPLY, template="payment_link"), NIGHT)
    assert gk.decisions("reply")[0].decision is DecisionKind.ALLOW
    gk.feed(profile(flags=["cease_communication"]), NIGHT)
    gk.feed(request("reply2", kind=RequestKind.REPLY, template="payment_link"), NIGHT)
    assert gk.decisions("reply2")[0].reasons == [ReasonCode.CEASE_COMMUNICATION]


def test_an_opt_out_is_confirmed_by_one_reply_on_the_channel_it_revoked() -> None:
    gk = Harness()
    gk.feed(profile(), NIGHT)
    stop = ev.ConsentChanged(
        debtor_id="d1",
        address="+1 212-555-0100",  # the same number as the profile's, written as the provider did not
        channel=Channel.SMS,
        change=ev.ConsentChange.OPT_OUT,
        source=ev.ConsentSource.SMS_REPLY,
        occurred_at=NIGHT,
    )
    gk.feed(stop, NIGHT)
    within = NIGHT + timedelta(minutes=5)
    confirm = {"kind": RequestKind.REPLY, "template": "opt_out_confirmation", "expires_at": within}
    gk.feed(request("confirm", **confirm), NIGHT)
    [allowed] = gk.decisions("confirm")
    assert (allowed.decision, allowed.valid_until) == (DecisionKind.ALLOW, within)
    # Only that template, only as a reply: any other text after the STOP is refused.
    gk.feed(request("help", kind=RequestKind.REPLY, template="help"), NIGHT)
    gk.feed(request("outreach", template="opt_out_confirmation"), NOON)
    assert [gk.decisions(r)[0].reasons for r in ("help", "outreach")] == [[ReasonCode.OPTED_OUT]] * 2
    # Every other stop holds.
    gk.feed(profile(flags=["cease_communication"]), NIGHT)
    gk.feed(request("confirm2", **confirm), NIGHT)
    assert gk.decisions("confirm2")[0].reasons == [ReasonCode.CEASE_COMMUNICATION]


def test_paused_channel_defers_with_paused_and_expiry_still_applies() -> None:
    gk = Harness(paused={"sms"})
    gk.feed(profile(), NOON)
    gk.feed(request("p1", expires_at=NOON + timedelta(hours=2)), NOON)
    [held] = gk.decisions("p1")
    assert (held.decision, held.reasons, held.not_before) == (
        DecisionKind.DEFER,
        [ReasonCode.PAUSED],
        NOON + timedelta(hours=2),
    )
    gk.due(NOON + timedelta(hours=2))
    assert gk.decisions("p1")[-1].reasons[0] is ReasonCode.EXPIRED
    finals = [o.event for o in gk.out if isinstance(o.event, ev.ContactOutcome)]
    assert [(o.status, o.final) for o in finals] == [(OutcomeStatus.EXPIRED, True)]


def test_a_request_held_for_its_profile_ends_expired_at_its_expiry() -> None:
    gk = Harness()
    gk.feed(request("early", expires_at=NOON + timedelta(hours=1)), NOON)
    assert gk.decisions("early")[0].reasons == [ReasonCode.PROFILE_MISSING]
    gk.due(NOON + timedelta(hours=1))
    assert gk.decisions("early")[-1].reasons == [ReasonCode.EXPIRED]
    assert gk.state is not None and gk.state.next_due() is None


def payment(outstanding_after: int, payment_id: str = "p1") -> ev.PaymentPosted:
    return ev.PaymentPosted(
        debtor_id="d1",
        account_id="a1",
        payment_id=payment_id,
        currency="USD",
        amount=Decimal(100),
        outstanding_after=Decimal(outstanding_after),
        posted_at=NOON,
    )


def reversal(payment_id: str = "p1") -> ev.PaymentReversed:
    return ev.PaymentReversed(
        debtor_id="d1",
        account_id="a1",
        payment_id=payment_id,
        currency="USD",
        amount=Decimal(100),
        reversed_at=NOON,
    )


def test_a_reversed_payment_in_full_makes_the_account_collectable_again() -> None:
    gk = Harness()
    gk.feed(profile(), NOON)
    gk.feed(payment(0), NOON)
    closed = ev.AccountStatusChanged(
        debtor_id="d1", account_id="a1", status=ev.AccountStatus.CLOSED, effective_at=NOON
    )
    gk.feed(closed, NOON)  # core banking closes the loan its last repayment paid off
    gk.feed(request("r1"), NOON)
    assert set(gk.decisions("r1")[0].reasons) == {ReasonCode.PAID, ReasonCode.ACCOUNT_CLOSED}
    gk.feed(reversal(), NOON + timedelta(minutes=1))  # the repayment bounced: the loan is open again
    assert gk.state is not None and gk.state.paid == [] and gk.state.closed == []
    gk.feed(request("r2"), NOON + timedelta(minutes=2))
    assert gk.decisions("r2")[0].decision is DecisionKind.ALLOW


def test_a_reversal_leaves_an_account_closed_for_another_reason_closed() -> None:
    gk = Harness()
    gk.feed(profile(), NOON)
    gk.feed(
        ev.AccountStatusChanged(
            debtor_id="d1", account_id="a1", status=ev.AccountStatus.CLOSED, effective_at=NOON
        ),
        NOON,
    )
    gk.feed(reversal(), NOON)
    gk.feed(request("r1"), NOON)
    assert gk.decisions("r1")[0].reasons == [ReasonCode.ACCOUNT_CLOSED]


# ---- values compared normalized, hard stops whatever their time, outcomes forward only -------------------


def consent(change: ev.ConsentChange, address: str, at: datetime) -> ev.ConsentChanged:
    return ev.ConsentChanged(
        debtor_id="d1",
        address=address,
        channel=Channel.SMS,
        change=change,
        source=ev.ConsentSource.SMS_REPLY,
        occurred_at=at,
    )


def test_a_stop_from_the_number_as_the_provider_writes_it_matches_the_profiles_number() -> None:
    gk = Harness()
    national = [{"type": "phone", "address": "(212) 555-0100", "consents": ["sms"]}]  # read in the US
    gk.feed(profile(contact_points=national), NOON)
    gk.feed(consent(ev.ConsentChange.OPT_OUT, "+1 212-555-0100", NOON), NOON)
    gk.feed(request("after-stop", destination="+1 (212) 555 0100"), NOON + timedelta(minutes=1))
    assert gk.decisions("after-stop")[0].reasons == [ReasonCode.OPTED_OUT]


def test_an_opt_out_takes_effect_whatever_its_time_and_only_a_newer_opt_in_lifts_it() -> None:
    gk = Harness()
    gk.feed(profile(), NOON)
    gk.feed(consent(ev.ConsentChange.OPT_IN, PHONE, datetime(2036, 1, 1, tzinfo=UTC)), NOON)
    gk.feed(consent(ev.ConsentChange.OPT_OUT, PHONE, NOON), NOON)  # "older" than the 2036 opt-in
    gk.feed(request("r1"), NOON + timedelta(minutes=1))
    gk.feed(consent(ev.ConsentChange.OPT_IN, PHONE, NOON + timedelta(minutes=2)), NOON + timedelta(minutes=2))
    gk.feed(request("r2"), NOON + timedelta(minutes=3))
    assert [gk.decisions(r)[0].reasons for r in ("r1", "r2")] == [[ReasonCode.OPTED_OUT]] * 2
    gk.feed(consent(ev.ConsentChange.OPT_IN, PHONE, datetime(2036, 1, 2, tzinfo=UTC)), NOON)
    gk.feed(request("r3"), NOON + timedelta(minutes=4))
    assert gk.decisions("r3")[0].decision is DecisionKind.ALLOW


@pytest.mark.parametrize("future", [datetime(2036, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC)])
def test_a_profile_from_the_future_does_not_freeze_the_hard_stops(future: datetime) -> None:
    gk = Harness()
    gk.feed(profile(), NOON, ce_time=future)  # held in a changelog written before the edge refused it
    gk.feed(profile(flags=["attorney", "cease_communication"]), NOON)
    gk.feed(request("r1"), NOON + timedelta(minutes=1))
    assert gk.decisions("r1")[0].reasons == [ReasonCode.ATTORNEY, ReasonCode.CEASE_COMMUNICATION]
    # A profile without the flags lifts them only if it is newer than the newest one that set them.
    gk.feed(profile(), NOON + timedelta(minutes=2))
    gk.feed(request("r2"), NOON + timedelta(minutes=3))
    assert gk.decisions("r2")[0].reasons == [ReasonCode.ATTORNEY, ReasonCode.CEASE_COMMUNICATION]
    gk.feed(profile(), NOON + timedelta(minutes=4), ce_time=future + timedelta(seconds=1))
    gk.feed(request("r3"), NOON + timedelta(minutes=5))
    assert gk.decisions("r3")[0].decision is DecisionKind.ALLOW


def test_a_late_non_final_outcome_never_replaces_the_final_one_the_cap_counts() -> None:
    # Massachusetts: two initiated calls or texts per account in seven days; a busy call is not one.
    gk = Harness()
    ma = {
        "jurisdictions": ["US", "US-MA"],
        "contact_points": [{"type": "phone", "address": PHONE, "consents": ["sms", "voice"]}],
    }
    gk.feed(profile(**ma), NOON)
    gk.feed(request("c1", Channel.VOICE), NOON)
    assert gk.decisions("c1")[0].decision is DecisionKind.ALLOW

    def outcome(status: OutcomeStatus, final: bool, minutes: int) -> ev.ContactOutcome:
        return ev.ContactOutcome(
            debtor_id="d1",
            outcome_id=f"c1-{status}",
            request_id="c1",
            account_id="a1",
            channel=Channel.VOICE,
            status=status,
            final=final,
            occurred_at=NOON + timedelta(minutes=minutes),
        )

    gk.feed(outcome(OutcomeStatus.BUSY, True, 1), NOON + timedelta(minutes=2))  # the webhook's final word
    gk.feed(outcome(OutcomeStatus.SENT, False, 0), NOON + timedelta(minutes=3))  # the worker's, late
    assert gk.state is not None
    assert [(e.outcome, e.final) for e in gk.state.ledger] == [(OutcomeStatus.BUSY, True)]
    gk.feed(request("c2", Channel.VOICE), NOON + timedelta(hours=1))
    gk.feed(request("c3", Channel.VOICE), NOON + timedelta(hours=2))
    # c1 was busy: c2 and c3 are the two initiated calls of the week, a fourth waits.
    assert [gk.decisions(r)[0].decision for r in ("c2", "c3")] == [DecisionKind.ALLOW] * 2
    gk.feed(request("c4", Channel.VOICE), NOON + timedelta(hours=3))
    assert gk.decisions("c4")[0].decision is DecisionKind.DEFER
