"""The gatekeeper's durable, partition-local state for one debtor: what it knows and what it decided.

Everything is idempotent to re-apply: the ledger is keyed by request id, decisions remember their request
ids, and profile snapshots older than the one held are ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.events import ContactRequested, DebtorProfileUpdated
from schemas.vocab import Channel, OutcomeStatus, ReasonCode

# Rules look back at most 7 local days (and a conversation cooldown of 7 days); keep a generous margin so a
# stricter pack version can look further without a migration.
LEDGER_RETENTION = timedelta(days=35)
DECIDED_RETENTION = timedelta(days=45)


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LedgerEntry(_State):
    """One approved attempt and its latest outcome; ``at`` is when it was approved."""

    request_id: str
    channel: Channel
    account_id: str
    at: AwareDatetime
    outcome: OutcomeStatus = OutcomeStatus.APPROVED


class Deferred(_State):
    """A request waiting for its time; ``paused`` ones wait for an operator's resume instead."""

    request: ContactRequested
    not_before: AwareDatetime | None
    reasons: list[ReasonCode]
    decisions: int = 1


class ConsentOverride(_State):
    """The debtor's own opt-out or opt-in on one contact point and channel; wins over profile snapshots."""

    address: str
    channel: Channel
    opted_out: bool
    at: AwareDatetime


class GatekeeperState(_State):
    profile: DebtorProfileUpdated | None = None
    profile_time: AwareDatetime | None = None
    consent: list[ConsentOverride] = []
    bankrupt: bool = False
    disputed: list[str] = []
    paid: list[str] = []
    closed: list[str] = []
    cancelled: list[str] = []
    ledger: list[LedgerEntry] = []
    deferred: list[Deferred] = []
    decided: dict[str, AwareDatetime] = {}

    def pruned(self, now: datetime) -> GatekeeperState:
        ledger = [e for e in self.ledger if now - e.at <= LEDGER_RETENTION]
        decided = {rid: at for rid, at in self.decided.items() if now - at <= DECIDED_RETENTION}
        if len(ledger) == len(self.ledger) and len(decided) == len(self.decided):
            return self
        return self.model_copy(update={"ledger": ledger, "decided": decided})

    def next_due(self) -> datetime | None:
        dues = [d.not_before for d in self.deferred if d.not_before is not None]
        return min(dues) if dues else None

    def knows(self, request_id: str) -> bool:
        return request_id in self.decided or any(d.request.request_id == request_id for d in self.deferred)

    def opted_out(self, address: str, channel: Channel) -> bool:
        for override in self.consent:
            if override.address == address and override.channel is channel:
                return override.opted_out
        return False

    def consents(self, address: str) -> list[Channel]:
        """Channels consented to on ``address``: the profile's, plus the debtor's own opt-ins."""
        channels = set()
        if self.profile is not None:
            for point in self.profile.contact_points:
                if point.address == address:
                    channels.update(point.consents)
        for override in self.consent:
            if override.address == address and not override.opted_out:
                channels.add(override.channel)
        return sorted(channels)
