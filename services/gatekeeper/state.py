"""The gatekeeper's durable, partition-local state for one debtor: what it knows and what it decided.

Everything is idempotent to re-apply: the ledger is keyed by request id, decisions remember their request
ids, and profile snapshots older than the one held are ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from schemas.events import ContactRequested, DebtorProfileUpdated, EscalationKind, EscalationRequested
from schemas.values import Address
from schemas.vocab import Channel, DebtorFlag, OutcomeStatus, ReasonCode, Relation, TemplateTag

# Rules look back at most 7 local days (and a conversation cooldown of 7 days); keep a generous margin so a
# stricter pack version can look further without a migration.
LEDGER_RETENTION = timedelta(days=35)
HARD_STOP_FLAGS = frozenset(DebtorFlag)
DECIDED_RETENTION = timedelta(days=45)
# Forbearance offers (and allowed escalations) are read by the enforcement rules for as long as a case lasts.
OFFER_RETENTION = timedelta(days=400)


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LedgerEntry(_State):
    """One approved attempt and its latest outcome; ``at`` is when it was approved. ``relation`` is whose
    point it reached, ``template_tags`` its template's tags (the third-party and forbearance rules read
    them)."""

    request_id: str
    channel: Channel
    account_id: str
    at: AwareDatetime
    outcome: OutcomeStatus = OutcomeStatus.APPROVED
    final: bool = False  # the outcome is final: a non-final one arriving later never replaces it
    relation: Relation = Relation.SELF
    template_tags: frozenset[TemplateTag] = frozenset()


class EscalationRecord(_State):
    """An escalation the gatekeeper allowed (a restructuring offer is a forbearance offer for the rules)."""

    request_id: str
    kind: EscalationKind
    account_id: str
    at: AwareDatetime


class Deferred(_State):
    """A request waiting for its time; ``paused`` ones wait for an operator's resume instead."""

    request: ContactRequested | EscalationRequested
    not_before: AwareDatetime | None
    reasons: list[ReasonCode]
    decisions: int = 1


class ConsentOverride(_State):
    """The debtor's own opt-out or opt-in on one contact point and channel; wins over profile snapshots."""

    address: Address  # normalized, as every contact point is compared (also when restored from older states)
    channel: Channel
    opted_out: bool
    at: AwareDatetime


class GatekeeperState(_State):
    profile: DebtorProfileUpdated | None = None
    profile_time: AwareDatetime | None = None
    # Hard-stop flags in force, each with the ce_time of the newest profile that set it. A profile sets a
    # hard stop whatever its time; only a profile newer than that lifts it (by not carrying the flag).
    stops: dict[str, AwareDatetime] = {}
    consent: list[ConsentOverride] = []
    # Contact points whose holder said they are not the debtor's: never used again for this debtor.
    wrong_party: list[Address] = []
    bankrupt: bool = False
    disputed: list[str] = []
    paid: list[str] = []
    closed: list[str] = []
    cancelled: list[str] = []
    ledger: list[LedgerEntry] = []
    escalations: list[EscalationRecord] = []
    deferred: list[Deferred] = []
    decided: dict[str, AwareDatetime] = {}

    @model_validator(mode="before")
    @classmethod
    def _stops_of_older_states(cls, data: Any) -> Any:
        # A state written before stops were kept: the flags of the profile it holds are in force.
        if isinstance(data, dict) and "stops" not in data and isinstance(data.get("profile"), dict):
            flags = data["profile"].get("flags") or []
            at = data.get("profile_time")
            data = {**data, "stops": {f: at for f in flags if f in HARD_STOP_FLAGS and at is not None}}
        return data

    def pruned(self, now: datetime) -> GatekeeperState:
        # A forbearance offer stays as long as enforcement may still follow it.
        ledger = [
            e
            for e in self.ledger
            if now - e.at <= LEDGER_RETENTION
            or (TemplateTag.FORBEARANCE_OFFER in e.template_tags and now - e.at <= OFFER_RETENTION)
        ]
        decided = {rid: at for rid, at in self.decided.items() if now - at <= DECIDED_RETENTION}
        escalations = [e for e in self.escalations if now - e.at <= OFFER_RETENTION]
        if (len(ledger), len(decided), len(escalations)) == (
            len(self.ledger),
            len(self.decided),
            len(self.escalations),
        ):
            return self
        return self.model_copy(update={"ledger": ledger, "decided": decided, "escalations": escalations})

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

    def relation(self, address: str) -> Relation:
        """Whose point ``address`` is, as the profile says (the debtor's own if the profile does not list it:
        consent and opt-out rules still apply to it)."""
        if self.profile is not None:
            for point in self.profile.contact_points:
                if point.address == address:
                    return point.relation
        return Relation.SELF

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
