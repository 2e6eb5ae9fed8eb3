"""``decide``: the compliance decision for one contact or escalation request, given the debtor, its history
and ``now``.

Every timing rule is piecewise constant in time and changes value only at boundary instants: window edges
in each candidate zone, UTC offset transitions, local midnights of the primary zone and ``not_before``. The
search evaluates the rules at ``now`` and then at each boundary in order: exact to the second, no scanning.
An escalation has no channel: only the debtor's flags, ``not_before``, expiry and forbearance decide it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas.vocab import DecisionKind, ReasonCode, RequestKind, TemplateTag
from services.gatekeeper import rules
from services.gatekeeper.model import DecideInput, Decision, HistoryEntry, LocalWindow
from services.gatekeeper.policy import (
    AppliedPack,
    Cap,
    ChannelRules,
    Cooldown,
    PolicyBook,
    RequestRules,
    Window,
)
from services.gatekeeper.rules import ContactZones, Failure

HORIZON = timedelta(days=30)
REPLY_VALIDITY = timedelta(hours=1)
_REVOKED_CONSENT = frozenset({ReasonCode.OPTED_OUT, ReasonCode.NO_CONSENT})
# Boundaries are generated a day at a time: most deferred requests find their instant within the first day.
_CHUNK = _DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_MIDNIGHT = time(0)
_REASON_ORDER = {code: index for index, code in enumerate(ReasonCode)}


@dataclass(frozen=True)
class _Plan:
    """The rules that apply to one request, with all that does not depend on the instant precomputed."""

    zones: tuple[ZoneInfo, ...]
    primary: ZoneInfo
    not_before: datetime | None
    windows: tuple[tuple[str, Window], ...]
    inconvenient: tuple[LocalWindow, ...]
    calendars: tuple[tuple[str, str], ...]
    caps: tuple[tuple[str, Cap, Mapping[date, int]], ...]
    cooldowns: tuple[tuple[str, Cooldown, frozenset[date]], ...]
    edges: tuple[tuple[ZoneInfo, frozenset[time]], ...]

    def _verdicts(self, moment: datetime) -> Iterator[Failure | None]:
        yield rules.not_before(moment, self.not_before)
        local = {zone: moment.astimezone(zone) for zone in self.zones}
        times = [when.time() for when in local.values()]
        for name, window in self.windows:
            yield rules.contact_window(times, window, name)
        here = local[self.primary]
        yield rules.inconvenient_time(here.time(), self.inconvenient)
        day = here.date()
        for name, calendar in self.calendars:
            yield rules.working_day(day, calendar, name)
        for name, cap, counts in self.caps:
            yield rules.frequency_cap(day, counts, cap, name)
        for name, cooldown, triggers in self.cooldowns:
            yield rules.conversation_cooldown(day, triggers, cooldown, name)

    def failures(self, moment: datetime) -> list[Failure]:
        return [failure for failure in self._verdicts(moment) if failure is not None]

    def holds(self, moment: datetime) -> bool:
        return all(failure is None for failure in self._verdicts(moment))

    def boundaries(self, after: datetime, until: datetime) -> list[datetime]:
        """Every instant in (after, until] at which some rule may change value, in order."""
        found: set[datetime] = set()
        if self.not_before is not None and after < self.not_before <= until:
            found.add(self.not_before)
        for zone, walls in self.edges:
            changes = list(_transitions(zone, after, until))
            found.update(changes)
            found.update(_wall_instants(zone, walls, after, until, steady=not changes))
        return sorted(found)


def _wall_instants(
    zone: ZoneInfo, walls: frozenset[time], after: datetime, until: datetime, *, steady: bool
) -> Iterator[datetime]:
    """The instants in (after, until] at which the clock in ``zone`` shows one of ``walls``."""
    if steady:
        # One UTC offset all along: wall time minus that offset, without a zone lookup per instant.
        offset = _offset(zone, after)
        day, last = (after + offset).date(), (until + offset).date()
        while day <= last:
            for wall in walls:
                instant = datetime.combine(day, wall, tzinfo=UTC) - offset
                if after < instant <= until:
                    yield instant
            day += _DAY
        return
    # Both folds: an ambiguous wall time happens twice; a nonexistent one is covered by the transition itself.
    day = after.astimezone(zone).date() - _DAY
    last = until.astimezone(zone).date() + _DAY
    while day <= last:
        for wall in walls:
            for fold in (0, 1):
                instant = datetime.combine(day, wall.replace(fold=fold), tzinfo=zone).astimezone(UTC)
                if after < instant <= until:
                    yield instant
        day += _DAY


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


def _transitions(zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """The UTC offset changes of ``zone`` in (after, until], to the second (no zone changes twice a day)."""
    low, low_offset = after, _offset(zone, after)
    while low < until:
        high = min(low + _CHUNK, until)
        high_offset = _offset(zone, high)
        if high_offset != low_offset:
            before, changed = low, high
            while changed - before > _SECOND:
                middle = before + timedelta(seconds=int((changed - before).total_seconds()) // 2)
                if _offset(zone, middle) == low_offset:
                    before = middle
                else:
                    changed = middle
            yield changed
        low, low_offset = high, high_offset


def _ceil_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + _SECOND


def _plan(
    inp: DecideInput,
    contacts: Sequence[HistoryEntry],
    packs: ChannelRules,
    zones: ContactZones,
    primary: ZoneInfo,
) -> _Plan:
    request = inp.request
    dated = [(entry, entry.at.astimezone(primary).date()) for entry in contacts]
    inconvenient = tuple(inp.debtor.inconvenient)
    primary_edges = frozenset(
        {_MIDNIGHT, *(edge for window in inconvenient for edge in (window.start, window.end))}
    )
    # A cap with fewer counted entries in all of history than its limit, or a cooldown with no trigger,
    # cannot fail at any instant of this decision: leaving it out changes no verdict, and most
    # requests are decided without evaluating a single cap.
    caps = []
    for name, cap in packs.caps:
        counts = rules.cap_counts(dated, cap, request.account_id) if dated else {}
        if sum(counts.values()) >= cap.limit:
            caps.append((name, cap, counts))
    cooldowns = []
    for name, cooldown in packs.cooldowns:
        triggers = rules.cooldown_days(dated, cooldown, request.account_id) if dated else frozenset()
        if triggers:
            cooldowns.append((name, cooldown, triggers))
    return _Plan(
        zones=zones.candidates,
        primary=primary,
        not_before=_ceil_second(request.not_before) if request.not_before is not None else None,
        windows=packs.windows,
        inconvenient=inconvenient,
        calendars=packs.calendars,
        caps=tuple(caps),
        cooldowns=tuple(cooldowns),
        edges=tuple(
            (zone, packs.window_edges | primary_edges if zone == primary else packs.window_edges)
            for zone in zones.candidates
        ),
    )


def _first(
    plan: _Plan, start: datetime, until: datetime, *, holding: bool, holds_at_start: bool
) -> datetime | None:
    """The first of ``start`` and the boundaries in (start, until] where ``holds`` is ``holding``."""
    if holds_at_start is holding:
        return start
    low = start
    while low < until:
        high = min(low + _CHUNK, until)
        for moment in plan.boundaries(low, high):
            if plan.holds(moment) is holding:
                return moment
        low = high
    return None


def _reasons(codes: Iterable[ReasonCode]) -> list[ReasonCode]:
    return sorted(set(codes), key=_REASON_ORDER.__getitem__)


def _rule_names(failures: Iterable[Failure]) -> list[str]:
    return list(dict.fromkeys(failure.rule for failure in failures))


def _expired(failures: Sequence[Failure], versions: dict[str, str]) -> Decision:
    return Decision(
        decision=DecisionKind.BLOCK,
        reasons=_reasons([ReasonCode.EXPIRED, *(failure.reason for failure in failures)]),
        rules=["request:expires_at", *_rule_names(failures)],
        pack_versions=versions,
    )


def _blocked(failures: Sequence[Failure], versions: dict[str, str]) -> Decision:
    return Decision(
        decision=DecisionKind.BLOCK,
        reasons=_reasons(failure.reason for failure in failures),
        rules=_rule_names(failures),
        pack_versions=versions,
    )


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((moment for moment in moments if moment is not None), default=None)


def decide(inp: DecideInput, book: PolicyBook) -> Decision:
    """Decide one request under the pack versions in force at ``inp.now`` (its fractional seconds dropped).

    Raises ``GatekeeperError`` for an unknown jurisdiction or a pack without a version in force. A ``reply``
    (a message the debtor asked for) that no hard stop blocks is allowed with ``valid_until`` one hour after
    ``now``, capped at ``expires_at``. Any other allow is valid until the first instant at which some rule
    would fail with the same history, capped at ``expires_at`` and at ``now`` + 30 days. No allow is valid
    past the next change of version of an applied pack: it was not checked against the rules that follow.
    """
    now = inp.now.astimezone(UTC).replace(microsecond=0)
    applied = book.resolve(inp.debtor.jurisdictions, now)
    versions = {ap.pack: ap.version.version for ap in applied}
    cap = _earliest(inp.request.expires_at, book.next_change(applied, now))
    if inp.request.kind is RequestKind.ESCALATION:
        return _decide_escalation(inp, book.request_rules(applied), now, versions, cap)
    return _decide_contact(inp, book, applied, now, versions, cap)


def _decide_contact(
    inp: DecideInput,
    book: PolicyBook,
    applied: Sequence[AppliedPack],
    now: datetime,
    versions: dict[str, str],
    cap: datetime | None,
) -> Decision:
    request, debtor = inp.request, inp.debtor
    channel = request.channel
    assert channel is not None  # the model requires a channel on every request but an escalation
    packs = book.request_rules(applied)
    contacts = inp.contacts
    destination = request.destination.address if request.destination is not None else None
    zones = rules.contact_zones(debtor.timezone, debtor.phones, now, destination)
    consent = [(ap.pack, ap.version.consent_required) for ap in applied]
    stops = [
        *rules.hard_stops(debtor, channel, consent, zones),
        *rules.revoked(channel, debtor.opt_outs, packs.revocations),
        *rules.third_party(request.relation, request.template_tags, packs.third_parties, contacts, now),
    ]
    if request.kind is RequestKind.OUTREACH:
        stops += rules.debt_advice(request.template_tags, packs.debt_advice)
    if request.kind is RequestKind.REPLY and TemplateTag.OPT_OUT_CONFIRMATION in request.template_tags:
        # The confirmation of an opt-out goes out on the channel just revoked; every other stop holds.
        stops = [stop for stop in stops if stop.reason not in _REVOKED_CONSENT]
    if stops:
        return _blocked(stops, versions)
    expires = request.expires_at
    if request.kind is RequestKind.REPLY:
        return Decision(
            decision=DecisionKind.ALLOW,
            pack_versions=versions,
            valid_until=_earliest(now + REPLY_VALIDITY, cap),
        )
    # hard_stops reports TIMEZONE_UNKNOWN whenever there is no primary zone.
    assert zones.primary is not None
    plan = _plan(inp, contacts, book.rules_for(applied, channel), zones, zones.primary)
    at_now = plan.failures(now)
    if expires is not None and expires <= now:
        return _expired(at_now, versions)
    until = now + HORIZON if expires is None else min(now + HORIZON, _ceil_second(expires))
    holds_now = not at_now
    allowed_at = _first(plan, now, until, holding=True, holds_at_start=holds_now)
    if allowed_at is None or (expires is not None and allowed_at >= expires):
        return _expired(at_now, versions)
    if allowed_at > now:
        return Decision(
            decision=DecisionKind.DEFER,
            not_before=allowed_at,
            reasons=_reasons(failure.reason for failure in at_now),
            rules=_rule_names(at_now),
            pack_versions=versions,
        )
    closes_at = _first(plan, now, until, holding=False, holds_at_start=holds_now) or until
    return Decision(
        decision=DecisionKind.ALLOW,
        pack_versions=versions,
        valid_until=_earliest(closes_at, cap),
    )


def _decide_escalation(
    inp: DecideInput, packs: RequestRules, now: datetime, versions: dict[str, str], cap: datetime | None
) -> Decision:
    """Flags (those that bar this escalation), then forbearance, ``not_before`` and expiry; nothing else."""
    request = inp.request
    assert request.escalation is not None  # the model requires it on an escalation
    stops = rules.escalation_stops(inp.debtor, request.escalation)
    if stops:
        return _blocked(stops, versions)
    ready: list[tuple[str, datetime]] = []
    for name, rule in packs.forbearance:
        if request.escalation not in rule.before:
            continue
        offers = rules.forbearance_offers(inp.contacts, inp.escalations, rule, request.account_id, now)
        if not offers:
            return _blocked([Failure(ReasonCode.FORBEARANCE_REQUIRED, name)], versions)
        ready.append((name, _ceil_second(rules.forbearance_ready(offers, rule, now))))
    waits = [(Failure(ReasonCode.FORBEARANCE_REQUIRED, name), at) for name, at in ready]
    if request.not_before is not None:
        waits.insert(
            0, (Failure(ReasonCode.NOT_BEFORE, "request:not_before"), _ceil_second(request.not_before))
        )
    at_now = [failure for failure, at in waits if at > now]
    allowed_at = max([now, *(at for _, at in waits)])
    expires = request.expires_at
    if (expires is not None and allowed_at >= expires) or allowed_at > now + HORIZON:
        return _expired(at_now, versions)
    if allowed_at > now:
        return Decision(
            decision=DecisionKind.DEFER,
            not_before=allowed_at,
            reasons=_reasons(failure.reason for failure in at_now),
            rules=_rule_names(at_now),
            pack_versions=versions,
        )
    return Decision(
        decision=DecisionKind.ALLOW, pack_versions=versions, valid_until=_earliest(now + HORIZON, cap)
    )
