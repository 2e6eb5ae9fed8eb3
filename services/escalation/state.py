"""The case per debtor: accounts and their ladders, promises, channel health, arm; durable per partition."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.events import DebtorProfileUpdated, EscalationKind
from schemas.values import Address
from schemas.vocab import Channel, Relation


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Phase(StrEnum):
    ACTIVE = "active"  # the ladder runs
    PROMISED = "promised"  # paused until the promise date plus grace
    DISPUTED = "disputed"  # paused until the dispute closes
    HARDSHIP = "hardship"  # paused for the strategy's forbearance period
    KEPT = "kept"  # a promise was kept: quiet until a new instalment is missed
    CURED = "cured"  # payments covered the amount past due: quiet until a new instalment is missed
    HANDED_OFF = "handed_off"  # legal or agency: no automated outreach
    STOPPED = "stopped"  # paid in full, cured, closed, bankrupt


# Phases in which nothing ages: the ladder of the cycle has ended.
QUIET = frozenset({Phase.STOPPED, Phase.CURED})


class Promise(_State):
    promise_id: str
    amount: Decimal
    promised_date: date
    check_at: AwareDatetime
    paid: Decimal = Decimal(0)


class Retry(_State):
    step: str
    channel: Channel
    attempt: int
    at: AwareDatetime


class RequestRef(_State):
    step: str
    channel: Channel
    destination: str
    attempt: int
    relation: Relation = Relation.SELF  # whose point the request reaches


class AccountCase(_State):
    account_id: str
    product: str
    currency: str
    amount_due: Decimal
    total_outstanding: Decimal
    days_past_due: int
    due_date: date
    risk_score: float | None = None
    as_of: AwareDatetime
    phase: Phase = Phase.ACTIVE
    phase_until: AwareDatetime | None = None
    segment: str | None = None
    next_step: int = 0  # index into the arm's ladder of ``segment``
    next_at: AwareDatetime | None = None
    last_step_at: AwareDatetime | None = None
    done: list[str] = []  # step ids ("segment/step") already requested: never requested twice
    retries: list[Retry] = []
    attempts: dict[str, int] = {}  # step id -> attempts requested
    pending: list[str] = []  # request ids without a final outcome yet
    requests: dict[str, RequestRef] = {}  # the pending requests' step and destination
    promise: Promise | None = None
    broken_promises: int = 0
    escalated: list[EscalationKind] = []  # asked of the gatekeeper (or raised) this cycle: never asked twice
    asked: dict[str, EscalationKind] = {}  # escalation requests the gatekeeper has not answered for good
    # Asked hand-offs that would end outreach, not answered yet: the ladder waits for the answer rather than
    # send a step the hand-off would have cancelled.
    held_for: list[str] = []
    # Enforcement the gatekeeper refused until a forbearance offer reaches the debtor: asked again after it.
    awaiting_offer: list[EscalationKind] = []
    entered_at: AwareDatetime
    stopped_at: AwareDatetime | None = None
    stopped_by: str | None = (
        None  # the payment that stopped the ladder (in full, or curing): its reversal reopens it
    )
    # Paid since the latest overdue's ``as_of`` (what that overdue's ``amount_due`` does not reflect yet):
    # once it covers the amount due, the cycle is cured.
    paid_since_overdue: Decimal = Decimal(0)
    # When the days past due, counted on escalation's own clock from ``due_date``, next reach a threshold or
    # a segment's bounds: core banking need not publish an overdue every night for the ladder to go on.
    ages_at: AwareDatetime | None = None


class Case(_State):
    debtor_id: str
    arm: str
    profile: DebtorProfileUpdated | None = None
    profile_time: AwareDatetime | None = None
    accounts: dict[str, AccountCase] = {}
    unusable: list[tuple[Address, Channel]] = []  # (address, channel): opted out or failed permanently
    wrong_party: list[Address] = []  # points whose holder said they are not the debtor's: never used again
    right_party_contacts: int = 0
    # Calls to the debtor's own numbers that went unanswered in a row (reset by any reach).
    failed_calls: int = 0
    bankrupt: bool = False

    def next_due(self) -> datetime | None:
        dues: list[datetime] = []
        for account in self.accounts.values():
            if account.phase is Phase.ACTIVE and account.next_at is not None and not account.held_for:
                dues.append(account.next_at)
            if account.phase in (Phase.PROMISED, Phase.HARDSHIP) and account.phase_until is not None:
                dues.append(account.phase_until)
            if account.phase is Phase.ACTIVE and not account.held_for:
                dues.extend(r.at for r in account.retries)
            if account.phase not in QUIET and account.ages_at is not None:
                dues.append(account.ages_at)
        return min(dues) if dues else None

    def scheduled(self) -> int:
        return sum(
            (1 if a.next_at is not None and a.phase is Phase.ACTIVE else 0) + len(a.retries)
            for a in self.accounts.values()
        )
