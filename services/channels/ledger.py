"""The send ledger's entries: which request ids a channel worker has claimed, sent or finished.

A claim is written, and acknowledged by every in-sync replica, before the provider is called; the result,
with what its outcome says, is acknowledged before the outcome is published, so that whoever finds a
finished entry can publish its outcome again. ``ledger_store`` keeps them on the compacted topic.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.values import Currency
from schemas.vocab import Channel, FailureKind, OutcomeStatus
from services.channels.outcomes import SendResult


class LedgerState(StrEnum):
    CLAIMED = "claimed"  # the provider is being called, or was: it may have created the message
    SENT = "sent"  # the provider has it (provider_ref); the outcome follows
    DONE = "done"  # finished without a send (failed, expired, opted out); the outcome follows
    UNKNOWN = "unknown"  # could not be reconciled: never sent again; the outcome says unknown


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    channel: Channel
    # Whose request: what an outcome the worker publishes later (the lost-callback sweep) is about. Empty on
    # entries written before the sweep existed.
    debtor_id: str = ""
    account_id: str = ""
    strategy: str = ""
    arm: str = ""
    state: LedgerState
    attempt: int = 0
    destination: str
    # Recognises the message on a lookup: a digest of what was sent, never the text itself.
    digest: str = ""
    claimed_at: AwareDatetime
    # Wall-clock epoch seconds after which no create of this claim can still be in flight.
    lease_until: float = 0.0
    provider_ref: str = ""
    outcome: OutcomeStatus | None = None
    # The id that outcome went out under, when not the worker's own (the sweep uses the callback's).
    outcome_id: str = ""
    # The rest of the outcome of a finished request, to publish it again if a crash came first.
    final: bool = False
    error_code: str | None = None
    failure: FailureKind | None = None
    detail: str = ""
    segments: int = 0
    cost: Decimal = Decimal(0)
    cost_currency: Currency | None = None  # None: the worker's configured price currency
    valid_until: AwareDatetime

    @property
    def settled(self) -> bool:
        return self.state is not LedgerState.CLAIMED

    @property
    def awaiting_final(self) -> bool:
        """Sent, and the provider's final status (its callback) still to come: the sweep may ask for it."""
        return (
            self.state is LedgerState.SENT and not self.final and bool(self.provider_ref and self.debtor_id)
        )

    def expired(self, now: datetime, retention: timedelta) -> bool:
        """Finished long ago: any redelivery of its approval is long expired and would not be sent."""
        return self.settled and self.valid_until + retention < now

    def result(self) -> SendResult | None:
        """What the outcome of a finished request said."""
        if self.outcome is None:
            return None
        return SendResult(
            self.outcome,
            self.final,
            provider_ref=self.provider_ref,
            error_code=self.error_code,
            failure=self.failure,
            detail=self.detail,
            segments=self.segments,
            cost=self.cost,
            cost_currency=self.cost_currency,
        )


def lease_until(seconds: float) -> float:
    return time.time() + seconds
