"""The policy engine's input and output: frozen views of a debtor, a request, its history, and a decision.

Inputs ignore unknown keys (tolerant reader) and reject datetimes without a UTC offset.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.vocab import Channel, DebtorFlag, DecisionKind, OutcomeStatus, ReasonCode, RequestKind

_FLAG_VALUES = frozenset(DebtorFlag)


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
    timezone: str | None = None
    phones: list[str] = Field(default_factory=list)
    consents: list[Channel] = Field(default_factory=list)
    opt_outs: list[Channel] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    inconvenient: list[LocalWindow] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def hard_stop_flags(self) -> list[DebtorFlag]:
        """The flags that stop all contact; flags this version does not know are ignored."""
        return [DebtorFlag(flag) for flag in self.flags if flag in _FLAG_VALUES]


class RequestView(_View):
    request_id: str
    account_id: str
    channel: Channel
    kind: RequestKind = RequestKind.OUTREACH
    not_before: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    template: str | None = None
    strategy: str | None = None


class HistoryEntry(_View):
    """One earlier attempt with its latest outcome; ``at`` is when it was approved."""

    channel: Channel
    account_id: str
    at: AwareDatetime
    outcome: OutcomeStatus


class DecideInput(_View):
    debtor: DebtorView
    request: RequestView
    history: list[HistoryEntry] = Field(default_factory=list)
    now: AwareDatetime


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
