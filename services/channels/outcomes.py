"""The events a worker publishes about one approval: its outcome, and the opt-out a provider reported.
Pure functions with deterministic ids, so a replay publishes the same ids and consumers apply them once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from schemas import events as ev
from schemas import ids
from schemas.vocab import Channel, FailureKind, OutcomeStatus


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of a request, before it is dressed as an outcome."""

    status: OutcomeStatus
    final: bool
    provider_ref: str = ""
    error_code: str | None = None
    failure: FailureKind | None = None
    detail: str = ""
    segments: int = 0
    cost: Decimal = Decimal(0)
    cost_currency: str | None = None  # None: the worker's configured price currency
    duration_seconds: int = 0  # a call's, when the provider reported it


class Request(Protocol):
    """Whose request an outcome is about: an approval, or the send ledger's entry of it."""

    @property
    def request_id(self) -> str: ...
    @property
    def debtor_id(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def strategy(self) -> str: ...
    @property
    def arm(self) -> str: ...


def outcome(
    approval: Request,
    result: SendResult,
    *,
    provider: str,
    currency: str,
    now: datetime,
    outcome_id: str | None = None,
) -> ev.ContactOutcome:
    """``currency`` is the worker's price currency, for a result whose cost the provider did not price;
    ``outcome_id`` replaces the worker's own id for a fact another observer may report too."""
    return ev.ContactOutcome(
        debtor_id=approval.debtor_id,
        outcome_id=outcome_id or ids.outcome_id(approval.request_id, result.status, ids.Observer.WORKER),
        request_id=approval.request_id,
        account_id=approval.account_id,
        channel=approval.channel,
        status=result.status,
        final=result.final,
        provider=provider,
        provider_ref=result.provider_ref,
        error_code=result.error_code,
        failure=result.failure,
        detail=result.detail[:500],
        segments=result.segments,
        duration_seconds=result.duration_seconds,
        cost=result.cost,
        cost_currency=result.cost_currency or currency,
        strategy=approval.strategy,
        arm=approval.arm,
        occurred_at=now,
    )


def provider_opt_out(approval: ev.ContactApproved, now: datetime) -> ev.ConsentChanged:
    """Twilio refused with 21610: the number replied STOP at the carrier. The platform records it too."""
    return ev.ConsentChanged(
        debtor_id=approval.debtor_id,
        address=approval.destination,
        channel=approval.channel,
        change=ev.ConsentChange.OPT_OUT,
        source=ev.ConsentSource.PROVIDER,
        occurred_at=now,
    )
