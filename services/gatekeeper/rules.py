"""The rules as small pure functions, one per rule kind: each returns what fails for a request at one instant.

No clock reads, no I/O, no environment: the engine hands each rule the local times, local dates and ledger
counts it prepared once per decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import timezone as phone_timezone

from schemas.events import EscalationKind
from schemas.vocab import Channel, DebtorFlag, DecisionKind, ReasonCode, Relation, TemplateTag
from services.gatekeeper.model import DebtorView, EscalationEntry, HistoryEntry, LocalWindow
from services.gatekeeper.policy import (
    Cap,
    Cooldown,
    Forbearance,
    Revocation,
    Scope,
    ThirdPartyRule,
    Unreachable,
    Window,
)

# More distinct offsets than this means the number is not tied to a place (toll-free, non-geographic).
MAX_PHONE_OFFSETS = 3


class Failure(NamedTuple):
    reason: ReasonCode
    rule: str


class ContactZones(NamedTuple):
    """Where the debtor may be: quiet hours hold in every candidate; days are counted in the primary zone."""

    candidates: tuple[ZoneInfo, ...]
    primary: ZoneInfo | None


DatedEntry = tuple[HistoryEntry, date]


@lru_cache(maxsize=65536)
def _all_phone_zones(phone: str) -> tuple[ZoneInfo, ...]:
    # Cached as zone objects: ZoneInfo keeps only a few zones alive and a toll-free number lists dozens.
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    names = phone_timezone.time_zones_for_number(number)
    return tuple(ZoneInfo(name) for name in names if name != "Etc/Unknown")


def phone_zones(phone: str, now: datetime) -> tuple[ZoneInfo, ...]:
    zones = _all_phone_zones(phone)
    if len({now.astimezone(zone).utcoffset() for zone in zones}) > MAX_PHONE_OFFSETS:
        return ()
    return zones


def contact_zones(
    timezone: str | None, phones: Sequence[str], now: datetime, destination: str | None = None
) -> ContactZones:
    """The debtor's zones (stated zone, then each phone's), and the zones of the number the request calls or
    texts, if it has any: hours hold where the person reached may be. Days are the debtor's: the destination
    never gives the primary zone."""
    candidates: list[ZoneInfo] = [ZoneInfo(timezone)] if timezone else []
    primary = candidates[0] if candidates else None
    for phone in phones:
        zones = phone_zones(phone, now)
        if primary is None and zones:
            primary = zones[0]
        candidates.extend(zone for zone in zones if zone not in candidates)
    if candidates and destination is not None:
        candidates.extend(zone for zone in phone_zones(destination, now) if zone not in candidates)
    return ContactZones(tuple(candidates), primary)


@lru_cache(maxsize=16)
def _calendar(code: str) -> holidays.HolidayBase:
    # Built once per country: it fills its years lazily and is costly to construct.
    return holidays.country_holidays(code)


def hard_stops(
    debtor: DebtorView,
    channel: Channel,
    consent_rules: Sequence[tuple[str, frozenset[Channel]]],
    zones: ContactZones,
) -> list[Failure]:
    """Profile flags, opt-out, missing consent and unknown whereabouts: each blocks whatever the time."""
    failures = [Failure(ReasonCode[flag.name], f"debtor:flag:{flag}") for flag in debtor.hard_stop_flags]
    if channel in debtor.opt_outs:
        failures.append(Failure(ReasonCode.OPTED_OUT, f"debtor:opt_out:{channel}"))
    if channel not in debtor.consents:
        failures.extend(
            Failure(ReasonCode.NO_CONSENT, f"{pack}:consent_required")
            for pack, channels in consent_rules
            if channel in channels
        )
    if not zones.candidates or zones.primary is None:
        failures.append(Failure(ReasonCode.TIMEZONE_UNKNOWN, "debtor:no_time_zone"))
    return failures


def revoked(
    channel: Channel, opt_outs: Collection[Channel], revocations: Iterable[tuple[str, Revocation]]
) -> list[Failure]:
    """An opt-out on another channel of a revocation group revokes this one too (its own opt-out is a hard
    stop already)."""
    if channel in opt_outs:
        return []
    return [
        Failure(ReasonCode.OPTED_OUT, name)
        for name, revocation in revocations
        if channel in revocation.channels and any(other in revocation.channels for other in opt_outs)
    ]


def unreachable(contacts: Sequence[HistoryEntry], rule: Unreachable, now: datetime) -> bool:
    """Whether the debtor counts as unreachable at ``now``, from the entries of their own contact points.

    Entries after ``now`` are not history yet. When several calls share the instant of the last one counted,
    every one of them must have failed: the debtor is unreachable only if every reading of "the most recent
    calls" says so.
    """
    own = [entry for entry in contacts if entry.relation is Relation.SELF and entry.at <= now]
    since = now - timedelta(hours=rule.reached_within_hours)
    if any(entry.outcome in rule.reached_outcomes and entry.at >= since for entry in own):
        return False
    calls = sorted(
        (entry for entry in own if entry.channel is Channel.VOICE), key=lambda e: e.at, reverse=True
    )
    if len(calls) < rule.failed_calls:
        return False
    oldest_counted = calls[rule.failed_calls - 1].at
    return all(call.outcome in rule.failed_outcomes for call in calls if call.at >= oldest_counted)


def third_party(
    relation: Relation,
    tags: Collection[TemplateTag],
    third_parties: Iterable[tuple[str, ThirdPartyRule]],
    contacts: Sequence[HistoryEntry],
    now: datetime,
) -> list[Failure]:
    """Contact points other than the debtor's own, under every pack that has a rule for them."""
    if relation is Relation.SELF:
        return []
    failures = []
    for name, rule in third_parties:
        if relation in rule.as_debtor:
            continue
        if relation not in rule.when_unreachable:
            failures.append(Failure(ReasonCode.THIRD_PARTY_NOT_ALLOWED, name))
            continue
        assert rule.unreachable is not None  # the pack's validation requires it with when_unreachable
        if not unreachable(contacts, rule.unreachable, now):
            failures.append(Failure(ReasonCode.THIRD_PARTY_NOT_ALLOWED, name))
        if rule.required_tag not in tags:
            failures.append(Failure(ReasonCode.THIRD_PARTY_DISCLOSURE, name))
    return failures


def debt_advice(tags: Collection[TemplateTag], rules: Iterable[str]) -> list[Failure]:
    """Outreach under a pack with a debt-advice rule needs a template that refers to debt advice."""
    if TemplateTag.DEBT_ADVICE in tags:
        return []
    return [Failure(ReasonCode.DEBT_ADVICE_REQUIRED, name) for name in rules]


_LEGAL_REMEDY_STOPS = frozenset(
    {DebtorFlag.DISPUTE, DebtorFlag.BANKRUPTCY, DebtorFlag.ATTORNEY, DebtorFlag.BREATHING_SPACE}
)
# The flags that bar each escalation. Legal action and agency placement are remedies, not contact: a cease
# request or a death does not bar them, a dispute, bankruptcy (automatic stay), attorney or breathing space
# does. A field visit is a contact like any other; a restructuring offer only ever helps the debtor.
ESCALATION_STOPS: Mapping[EscalationKind, frozenset[DebtorFlag]] = {
    EscalationKind.LEGAL: _LEGAL_REMEDY_STOPS,
    EscalationKind.AGENCY_PLACEMENT: _LEGAL_REMEDY_STOPS,
    EscalationKind.FIELD_VISIT: frozenset(DebtorFlag),
    EscalationKind.RESTRUCTURING_OFFER: frozenset(),
}


def escalation_stops(debtor: DebtorView, escalation: EscalationKind) -> list[Failure]:
    barred = ESCALATION_STOPS[escalation]
    return [
        Failure(ReasonCode[flag.name], f"debtor:flag:{flag}")
        for flag in debtor.hard_stop_flags
        if flag in barred
    ]


def forbearance_offers(
    contacts: Sequence[HistoryEntry],
    escalations: Sequence[EscalationEntry],
    rule: Forbearance,
    account_id: str,
    now: datetime,
) -> list[datetime]:
    """When forbearance was offered on the account before ``now``: a forbearance template that reached the
    debtor, or an allowed restructuring offer."""
    offers = [
        entry.at
        for entry in contacts
        if entry.account_id == account_id
        and TemplateTag.FORBEARANCE_OFFER in entry.template_tags
        and entry.outcome in rule.offer_outcomes
        and entry.at <= now
    ]
    offers += [
        entry.at
        for entry in escalations
        if entry.account_id == account_id
        and entry.escalation in rule.offer_escalations
        and entry.decision is DecisionKind.ALLOW
        and entry.at <= now
    ]
    return offers


def forbearance_ready(offers: Sequence[datetime], rule: Forbearance, now: datetime) -> datetime:
    """The first instant at which the escalation may follow the offers: ``now`` once any offer is at least
    the notice period old, else the notice period after the oldest offer."""
    notice = timedelta(days=rule.forbearance_notice_days)
    if any(offer <= now - notice for offer in offers):
        return now
    return min(offers) + notice


def not_before(moment: datetime, earliest: datetime | None) -> Failure | None:
    if earliest is not None and moment < earliest:
        return Failure(ReasonCode.NOT_BEFORE, "request:not_before")
    return None


def contact_window(local_times: Sequence[time], window: Window, rule: str) -> Failure | None:
    """Inside the window only if inside it in every candidate zone (the intersection of the windows)."""
    if all(window.contains(local) for local in local_times):
        return None
    return Failure(ReasonCode.QUIET_HOURS, rule)


def inconvenient_time(local_time: time, windows: Sequence[LocalWindow]) -> Failure | None:
    """Times the debtor said are inconvenient (12 CFR 1006.6(b)(1)), in the primary zone."""
    if any(window.contains(local_time) for window in windows):
        return Failure(ReasonCode.QUIET_HOURS, "debtor:inconvenient")
    return None


def working_day(day: date, calendar: str, rule: str) -> Failure | None:
    """Weekends and holidays are off, makeup working days are on (``holidays``' ``is_working_day``)."""
    if _calendar(calendar).is_working_day(day):
        return None
    return Failure(ReasonCode.NON_WORKING_DAY, rule)


def _in_scope(entry: HistoryEntry, scope: Scope, account_id: str) -> bool:
    return scope is Scope.DEBTOR or entry.account_id == account_id


def cap_counts(dated: Sequence[DatedEntry], cap: Cap, account_id: str) -> dict[date, int]:
    """The entries the cap counts, per local day of the primary zone."""
    counts: dict[date, int] = {}
    for entry, day in dated:
        if cap.counts(entry.channel, entry.outcome) and _in_scope(entry, cap.scope, account_id):
            counts[day] = counts.get(day, 0) + 1
    return counts


def frequency_cap(day: date, counts: Mapping[date, int], cap: Cap, rule: str) -> Failure | None:
    """Full once ``limit`` entries are counted on ``day`` and the days before it that ``period`` covers."""
    counted = sum(counts.get(day - timedelta(days=back), 0) for back in range(cap.period.days))
    if counted < cap.limit:
        return None
    return Failure(ReasonCode.FREQUENCY_CAP, rule)


def cooldown_days(dated: Sequence[DatedEntry], cooldown: Cooldown, account_id: str) -> frozenset[date]:
    """The local days on which an entry started the cooldown."""
    return frozenset(
        day
        for entry, day in dated
        if entry.channel in cooldown.after_channels
        and entry.outcome in cooldown.after_outcomes
        and _in_scope(entry, cooldown.scope, account_id)
    )


def conversation_cooldown(
    day: date, trigger_days: Collection[date], cooldown: Cooldown, rule: str
) -> Failure | None:
    """A trigger on local day D blocks days D to D + local_days - 1."""
    if any(0 <= (day - trigger).days < cooldown.local_days for trigger in trigger_days):
        return Failure(ReasonCode.CONVERSATION_COOLDOWN, rule)
    return None
