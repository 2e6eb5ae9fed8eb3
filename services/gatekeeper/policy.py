"""Policy packs as data: versioned rule sets read from one TOML file per pack and validated at load.

A debtor is subject to every pack marked ``applies_to_all`` plus one pack per jurisdiction (and the packs
those include); every rule of every applicable pack must hold, so the strictest rule wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import holidays
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from schemas.events import EscalationKind
from schemas.vocab import Channel, OutcomeStatus, Relation, TemplateTag
from services.core.settings import ConfigError, load_toml
from services.gatekeeper.model import Escalation, LocalWindow

ALL_CHANNELS = frozenset(Channel)
# The bank's own pack: it holds the contact hours every debtor gets whatever their jurisdictions, so a folder
# without it would decide at any hour. Every folder the gatekeeper or ``decide`` loads must have it.
BANK_PACK = "BANK"

RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
ChannelSet = Annotated[frozenset[Channel], Field(min_length=1)]
OutcomeSet = Annotated[frozenset[OutcomeStatus], Field(min_length=1)]
EscalationSet = Annotated[frozenset[Escalation], Field(min_length=1)]


class GatekeeperError(Exception):
    """Input the engine cannot decide on (not a bug): the caller reports it and goes on."""


class UnknownJurisdictionError(GatekeeperError):
    """A debtor names a jurisdiction that no policy pack covers."""


class NoVersionInForceError(GatekeeperError):
    """A pack has no version whose ``effective_from`` is at or before the decision's ``now``."""


class Period(StrEnum):
    """The local days a cap counts: the day of the contact, or that day and the 6 local days before it."""

    LOCAL_DAY = "local_day"
    SEVEN_LOCAL_DAYS = "7_local_days"

    @property
    def days(self) -> int:
        return 1 if self is Period.LOCAL_DAY else 7


class Scope(StrEnum):
    """Which history entries a cap or cooldown sees: all of the debtor's, or only the request's account."""

    DEBTOR = "debtor"
    ACCOUNT = "account"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(LocalWindow):
    """Contact on ``channels`` only within [start, end) local time, in every candidate zone of the debtor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: RuleName
    channels: ChannelSet = ALL_CHANNELS


class Cap(_Strict):
    """At most ``limit`` counted entries per ``period``: a request is refused once ``limit`` are counted."""

    name: RuleName
    channels: ChannelSet
    applies_to: ChannelSet | None = None
    outcomes: OutcomeSet | None = None
    outcomes_except: OutcomeSet | None = None
    period: Period
    scope: Scope
    limit: PositiveInt

    @model_validator(mode="after")
    def _one_outcome_selector(self) -> Cap:
        if (self.outcomes is None) == (self.outcomes_except is None):
            raise ValueError("give exactly one of outcomes and outcomes_except")
        return self

    def applies(self, channel: Channel) -> bool:
        """Whether a request on ``channel`` is limited by this cap (default: the channels it counts)."""
        return channel in (self.applies_to if self.applies_to is not None else self.channels)

    def counts(self, channel: Channel, outcome: OutcomeStatus) -> bool:
        if channel not in self.channels:
            return False
        if self.outcomes is not None:
            return outcome in self.outcomes
        return outcome not in (self.outcomes_except or frozenset())


class Cooldown(_Strict):
    """No request on ``applies_to`` for ``local_days`` local days (the day of the trigger included) after an
    entry on ``after_channels`` with an outcome in ``after_outcomes``."""

    name: RuleName
    after_channels: ChannelSet
    after_outcomes: OutcomeSet
    applies_to: ChannelSet
    scope: Scope
    local_days: PositiveInt


class Revocation(_Strict):
    """An opt-out on any of ``channels`` revokes consent on all of them."""

    name: RuleName
    channels: Annotated[frozenset[Channel], Field(min_length=2)]


class Unreachable(_Strict):
    """When the debtor counts as unreachable, judged at the decision's instant from the debtor's own points.

    Unreachable: at least ``failed_calls`` voice attempts to the debtor's own contact points (any account),
    the ``failed_calls`` most recent of them all with an outcome in ``failed_outcomes``; and no entry on the
    debtor's own points (any channel) with an outcome in ``reached_outcomes`` at or after
    ``reached_within_hours`` hours before the decision.
    """

    failed_calls: PositiveInt
    failed_outcomes: OutcomeSet
    reached_outcomes: OutcomeSet
    reached_within_hours: PositiveInt


class ThirdPartyRule(_Strict):
    """Which contact points other than the debtor's own may be contacted.

    ``as_debtor`` relations are contacted like the debtor; ``when_unreachable`` ones only while the debtor is
    ``unreachable`` and only with a template tagged ``required_tag``; any other relation never.
    """

    name: RuleName
    as_debtor: frozenset[Relation] = frozenset()
    when_unreachable: frozenset[Relation] = frozenset()
    required_tag: TemplateTag = TemplateTag.LIMITED_CONTENT
    unreachable: Unreachable | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ThirdPartyRule:
        if Relation.SELF in self.as_debtor | self.when_unreachable:
            raise ValueError("'self' is always allowed: list only third parties")
        if self.as_debtor & self.when_unreachable:
            raise ValueError("a relation is either in as_debtor or in when_unreachable")
        if self.when_unreachable and self.unreachable is None:
            raise ValueError(
                "when_unreachable needs an [unreachable] table saying when the debtor is unreachable"
            )
        return self


# For a debtor none of whose packs says anything about third parties: only a guarantor, who owes the debt too.
DEFAULT_THIRD_PARTY = (
    "default:third_party_contact",
    ThirdPartyRule(name="third_party_contact", as_debtor=frozenset({Relation.GUARANTOR})),
)


class DebtAdvice(_Strict):
    """Every outreach request needs a template tagged ``debt_advice`` (not replies, not escalations)."""

    name: RuleName


class Forbearance(_Strict):
    """An escalation in ``before`` needs an earlier forbearance offer on the same account, made at least
    ``forbearance_notice_days`` x 24 hours before the decision.

    An offer: a contact whose template is tagged ``forbearance_offer`` and whose outcome is in
    ``offer_outcomes``, or an allowed escalation in ``offer_escalations``.
    """

    name: RuleName
    before: EscalationSet
    forbearance_notice_days: PositiveInt
    offer_outcomes: OutcomeSet
    offer_escalations: frozenset[Escalation] = frozenset({EscalationKind.RESTRUCTURING_OFFER})


class PackVersion(_Strict):
    """The rules of one pack from ``effective_from`` on (a TOML date means 00:00 UTC that day)."""

    version: Annotated[str, Field(min_length=1)]
    effective_from: AwareDatetime
    windows: tuple[Window, ...] = ()
    caps: tuple[Cap, ...] = ()
    cooldowns: tuple[Cooldown, ...] = ()
    consent_required: frozenset[Channel] = frozenset()
    calendar: str | None = None
    revocations: tuple[Revocation, ...] = ()
    third_party: ThirdPartyRule | None = None
    debt_advice: DebtAdvice | None = None
    forbearance: Forbearance | None = None

    @field_validator("effective_from", mode="before")
    @classmethod
    def _date_is_utc_midnight(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"unknown holiday calendar {value!r} (a country code of the holidays package)")
        return value

    @model_validator(mode="after")
    def _unique_rule_names(self) -> PackVersion:
        names = [window.name for window in self.windows] + [cap.name for cap in self.caps]
        names += [cooldown.name for cooldown in self.cooldowns]
        names += [revocation.name for revocation in self.revocations]
        names += [rule.name for rule in (self.third_party, self.debt_advice, self.forbearance) if rule]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique within a version: {', '.join(duplicates)}")
        return self


class Pack(_Strict):
    pack: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]*$")]
    description: str = ""
    applies_to_all: bool = False
    includes: tuple[str, ...] = ()
    versions: tuple[PackVersion, ...]

    @field_validator("versions")
    @classmethod
    def _versions_in_order(cls, versions: tuple[PackVersion, ...]) -> tuple[PackVersion, ...]:
        # Checked here rather than with min_length, which would also fire when one version is invalid.
        if not versions:
            raise ValueError("at least one version is required")
        starts = [version.effective_from for version in versions]
        if any(later <= earlier for earlier, later in pairwise(starts)):
            raise ValueError("versions must be listed by strictly increasing effective_from")
        labels = [version.version for version in versions]
        if len(set(labels)) != len(labels):
            raise ValueError("version labels must be unique")
        return versions

    def version_at(self, now: datetime) -> PackVersion:
        in_force = [version for version in self.versions if version.effective_from <= now]
        if not in_force:
            raise NoVersionInForceError(
                f"pack {self.pack} has no version in force at {now.isoformat()} "
                f"(the first is effective from {self.versions[0].effective_from.isoformat()})"
            )
        return in_force[-1]


class AppliedPack(NamedTuple):
    pack: str
    version: PackVersion


@dataclass(frozen=True)
class ChannelRules:
    """What a set of applied pack versions says about one channel, each rule with its ``PACK:name``."""

    windows: tuple[tuple[str, Window], ...]
    window_edges: frozenset[time]
    calendars: tuple[tuple[str, str], ...]
    caps: tuple[tuple[str, Cap], ...]
    cooldowns: tuple[tuple[str, Cooldown], ...]

    @classmethod
    def gather(cls, applied: Sequence[AppliedPack], channel: Channel) -> ChannelRules:
        windows = tuple(
            (f"{ap.pack}:{window.name}", window)
            for ap in applied
            for window in ap.version.windows
            if channel in window.channels
        )
        return cls(
            windows=windows,
            window_edges=frozenset(edge for _, window in windows for edge in (window.start, window.end)),
            calendars=tuple(
                (f"{ap.pack}:working_days", ap.version.calendar)
                for ap in applied
                if ap.version.calendar is not None
            ),
            caps=tuple(
                (f"{ap.pack}:{cap.name}", cap)
                for ap in applied
                for cap in ap.version.caps
                if cap.applies(channel)
            ),
            cooldowns=tuple(
                (f"{ap.pack}:{cooldown.name}", cooldown)
                for ap in applied
                for cooldown in ap.version.cooldowns
                if channel in cooldown.applies_to
            ),
        )


@dataclass(frozen=True)
class RequestRules:
    """What a set of applied pack versions says whatever the channel, each rule with its ``PACK:name``.

    ``third_parties`` holds ``DEFAULT_THIRD_PARTY`` when no pack has a third-party rule.
    """

    revocations: tuple[tuple[str, Revocation], ...]
    third_parties: tuple[tuple[str, ThirdPartyRule], ...]
    debt_advice: tuple[str, ...]
    forbearance: tuple[tuple[str, Forbearance], ...]

    @classmethod
    def gather(cls, applied: Sequence[AppliedPack]) -> RequestRules:
        third_parties = tuple(
            (f"{ap.pack}:{ap.version.third_party.name}", ap.version.third_party)
            for ap in applied
            if ap.version.third_party is not None
        )
        return cls(
            revocations=tuple(
                (f"{ap.pack}:{revocation.name}", revocation)
                for ap in applied
                for revocation in ap.version.revocations
            ),
            third_parties=third_parties or (DEFAULT_THIRD_PARTY,),
            debt_advice=tuple(
                f"{ap.pack}:{ap.version.debt_advice.name}" for ap in applied if ap.version.debt_advice
            ),
            forbearance=tuple(
                (f"{ap.pack}:{ap.version.forbearance.name}", ap.version.forbearance)
                for ap in applied
                if ap.version.forbearance is not None
            ),
        )


class PolicyBook:
    """Every known pack by id; ``resolve`` picks the packs and versions that govern one decision."""

    def __init__(self, packs: Mapping[str, Pack]) -> None:
        self._packs = dict(packs)
        self._always = tuple(sorted(pid for pid, pack in self._packs.items() if pack.applies_to_all))
        self._rules: dict[tuple[tuple[tuple[str, str], ...], Channel], ChannelRules] = {}
        self._request_rules: dict[tuple[tuple[str, str], ...], RequestRules] = {}

    @classmethod
    def load(cls, directory: Path) -> PolicyBook:
        """Read every ``*.toml`` in ``directory``; a bad file raises ``ConfigError`` naming file and field,
        and so does a folder without the ``BANK`` pack applied to every debtor."""
        paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
        if not paths:
            raise ConfigError(f"{directory}: no policy pack files (*.toml)")
        book = cls._link([(str(path), load_toml(path, Pack)) for path in paths])
        bank = book.packs.get(BANK_PACK)
        if bank is None:
            raise ConfigError(
                f"{directory}: no {BANK_PACK} pack (bank.toml): it holds the contact hours every debtor "
                "gets, and no decision is made without it"
            )
        if not bank.applies_to_all:
            raise ConfigError(f"{directory}: pack {BANK_PACK}: applies_to_all must be true")
        return book

    @classmethod
    def from_packs(cls, packs: Iterable[Pack]) -> PolicyBook:
        """A book of chosen packs, for tests and tools that look at some packs alone: no ``BANK`` needed."""
        return cls._link([(f"pack {pack.pack}", pack) for pack in packs])

    @classmethod
    def _link(cls, sourced: Sequence[tuple[str, Pack]]) -> PolicyBook:
        found: dict[str, str] = {}
        for source, pack in sourced:
            if pack.pack in found:
                raise ConfigError(f"{source}: pack: {pack.pack!r} is already defined in {found[pack.pack]}")
            found[pack.pack] = source
        for source, pack in sourced:
            for index, included in enumerate(pack.includes):
                if included not in found:
                    raise ConfigError(f"{source}: includes[{index}]: unknown pack {included!r}")
        return cls({pack.pack: pack for _, pack in sourced})

    @property
    def packs(self) -> Mapping[str, Pack]:
        return self._packs

    def resolve(self, jurisdictions: Iterable[str], now: datetime) -> tuple[AppliedPack, ...]:
        """The packs governing a debtor at ``now``, each once, with the version then in force."""
        order: list[str] = []
        pending = list(self._always)
        for jurisdiction in jurisdictions:
            if jurisdiction not in self._packs:
                known = ", ".join(sorted(self._packs))
                raise UnknownJurisdictionError(f"unknown jurisdiction {jurisdiction!r} (known: {known})")
            pending.append(jurisdiction)
        while pending:
            pack_id = pending.pop(0)
            if pack_id not in order:
                order.append(pack_id)
                pending[:0] = self._packs[pack_id].includes
        return tuple(AppliedPack(pid, self._packs[pid].version_at(now)) for pid in order)

    def rules_for(self, applied: Sequence[AppliedPack], channel: Channel) -> ChannelRules:
        """``ChannelRules.gather``, once per set of versions and channel: a pack id and version label name
        one version in a book (profiled: gathering them for every request was ~6% of a decision)."""
        key = (_version_set(applied), channel)
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = ChannelRules.gather(applied, channel)
        return found

    def request_rules(self, applied: Sequence[AppliedPack]) -> RequestRules:
        """``RequestRules.gather``, once per set of versions."""
        key = _version_set(applied)
        found = self._request_rules.get(key)
        if found is None:
            found = self._request_rules[key] = RequestRules.gather(applied)
        return found

    def next_change(self, applied: Sequence[AppliedPack], now: datetime) -> datetime | None:
        """The first ``effective_from`` after ``now`` among the versions of the applied packs, if any."""
        later = [
            version.effective_from
            for ap in applied
            for version in self._packs[ap.pack].versions
            if version.effective_from > now
        ]
        return min(later, default=None)


def _version_set(applied: Sequence[AppliedPack]) -> tuple[tuple[str, str], ...]:
    # A pack id and version label name one version in a book.
    return tuple((ap.pack, ap.version.version) for ap in applied)
