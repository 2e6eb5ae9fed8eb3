"""The policy engine's input and output: frozen views of a debtor, a request, its history, and a decision.

Inputs ignore unknown keys (tolerant reader) and reject datetimes without a UTC offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from schemas.events import EscalationKind
from schemas.values import TimeZoneName
from schemas.vocab import (
    Channel,
    DebtorFlag,
    DecisionKind,
    OutcomeStatus,
    ReasonCode,
    Relation,
    RequestKind,
    TemplateTag,
)

_FLAG_VALUES = frozenset(DebtorFlag)
# The gatekeeper's word for an agency placement, as in the decide command and the packs.
_ESCALATION_ALIASES = {"agency": EscalationKind.AGENCY_PLACEMENT.value}
DECIDED_ESCALATIONS = frozenset(
    {
        EscalationKind.LEGAL,
        EscalationKind.AGENCY_PLACEMENT,
        EscalationKind.FIELD_VISIT,
        EscalationKind.RESTRUCTURING_OFFER,
    }
)


def _escalation_alias(value: Any) -> Any:
    return _ESCALATION_ALIASES.get(value, value) if isinstance(value, str) else value


# ``agency`` and ``agency_placement`` both name EscalationKind.AGENCY_PLACEMENT.
Escalation = Annotated[EscalationKind, BeforeValidator(_escalation_alias)]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LocalWindow(_View):
    """A daily wall-clock window [start, end); it wraps past midnight when end < start."""

    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _wall_clock_seconds(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local time must not carry a UTC offset")
        if value.microsecond:
            raise ValueError("a local time must be given to the second")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> LocalWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class DebtorView(_View):
    """What the rules need to know about a debtor, whatever the source (core banking, consent events)."""

    debtor_id: str
    jurisdictions: list[str] = Field(default_factory=list)
    timezone: TimeZoneName | None = None
    phones: list[str] = Field(default_factory=list)
    consents: list[Channel] = Field(default_factory=list)
    opt_outs: list[Channel] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    inconvenient: list[LocalWindow] = Field(default_factory=list)

    @property
    def hard_stop_flags(self) -> list[DebtorFlag]:
        """The flags that stop all contact; flags this version does not know are ignored."""
        return [DebtorFlag(flag) for flag in self.flags if flag in _FLAG_VALUES]


class Destination(_View):
    """The contact point a request reaches and whose it is; without one, the debtor's own point."""

    address: str | None = None
    relation: Relation = Relation.SELF


class RequestView(_View):
    """A contact (``outreach`` or ``reply``, on ``channel``) or an ``escalation`` (no channel or destination).

    ``template_tags`` are the tags the template catalog declares for ``template``.
    """

    request_id: str
    account_id: str
    channel: Channel | None = None
    kind: RequestKind = RequestKind.OUTREACH
    escalation: Escalation | None = None
    destination: Destination | None = None
    template_tags: frozenset[TemplateTag] = frozenset()
    not_before: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    template: str | None = None
    strategy: str | None = None

    @model_validator(mode="after")
    def _contact_or_escalation(self) -> RequestView:
        if self.kind is RequestKind.ESCALATION:
            if self.escalation is None:
                raise ValueError("an escalation request needs 'escalation'")
            if self.escalation not in DECIDED_ESCALATIONS:
                raise ValueError(
                    f"escalation {self.escalation.value!r} is not decided by the gatekeeper "
                    "(legal, agency, field_visit, restructuring_offer)"
                )
            if self.channel is not None or self.destination is not None:
                raise ValueError("an escalation has no channel and no destination")
        else:
            if self.channel is None:
                raise ValueError("'channel' is required unless kind is 'escalation'")
            if self.escalation is not None:
                raise ValueError("'escalation' is for requests of kind 'escalation' only")
        return self

    @property
    def relation(self) -> Relation:
        return Relation.SELF if self.destination is None else self.destination.relation


class HistoryEntry(_View):
    """One earlier contact attempt with its latest outcome; ``at`` is when it was approved.

    ``relation`` is whose contact point it reached; ``template_tags`` are its template's tags.
    """

    channel: Channel
    account_id: str
    at: AwareDatetime
    outcome: OutcomeStatus
    relation: Relation = Relation.SELF
    template_tags: frozenset[TemplateTag] = frozenset()


class EscalationEntry(_View):
    """One earlier escalation of an account and the gatekeeper's decision on it, made at ``at``."""

    kind: Literal["escalation"] = "escalation"
    escalation: Escalation
    account_id: str
    at: AwareDatetime
    decision: DecisionKind


def _history_entry(value: Any) -> HistoryEntry | EscalationEntry:
    # Dispatched by hand rather than as a tagged union, whose tag would show in every error location.
    if isinstance(value, HistoryEntry | EscalationEntry):
        return value
    if isinstance(value, dict) and value.get("kind") == "escalation":
        return EscalationEntry.model_validate(value)
    return HistoryEntry.model_validate(value)


Entry = Annotated[HistoryEntry | EscalationEntry, PlainValidator(_history_entry)]


class DecideInput(_View):
    debtor: DebtorView
    request: RequestView
    # Contacts and, with ``kind: escalation``, escalations; a Sequence so that a list of either kind will do.
    history: Sequence[Entry] = Field(default_factory=list)
    now: AwareDatetime

    @property
    def contacts(self) -> list[HistoryEntry]:
        return [entry for entry in self.history if isinstance(entry, HistoryEntry)]

    @property
    def escalations(self) -> list[EscalationEntry]:
        return [entry for entry in self.history if isinstance(entry, EscalationEntry)]


class Decision(BaseModel):
    """The engine's answer.

    ``not_before`` is set for a defer only. ``valid_until`` is set for an allow only: the first instant at
    which the approval stops holding (send strictly before it). ``rules`` names the failing rules.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: DecisionKind
    not_before: AwareDatetime | None = None
    reasons: list[ReasonCode] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    pack_versions: dict[str, str] = Field(default_factory=dict)
    valid_until: AwareDatetime | None = None
