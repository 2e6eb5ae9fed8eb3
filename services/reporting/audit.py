"""An independent compliance audit of the event log: deliberately simple checks, written from the policy text
rather than from the gatekeeper (nothing here imports it), over what the topics say happened.

A *send* is a request the provider accepted (``services.reporting.sends.ACCEPTED``), at the time its first
accepting outcome reports. For every send the audit checks that

- it was approved by the gatekeeper, and sent no later than the approval's ``valid_until``;
- it happened inside [08:00, 21:00) local time in every zone the debtor may be in (outreach; a reply the
  debtor asked for may go at any hour, as the policy allows);
- the frequency caps recounted from sends hold, counted by approval time in local days of the debtor's
  primary zone (BANK, US and US-MA caps);
- no stop had reached the gatekeeper before its approval: payment in full or closure of the account, dispute,
  bankruptcy, a hard-stop flag in the debtor's profile, an opt-out of the address on that channel (from
  2027-01-31, for a US debtor, an opt-out of texts or calls stops both), except the one text confirming an
  opt-out within five minutes of it;
- it reached a third party only where the law allows it: a guarantor as the debtor; an emergency contact only
  for a debtor in China who was unreachable (the last three calls to their own numbers failed, and no
  conversation, reply or agent transfer with them in the 72 hours before), with a template tagged
  ``limited_content``; anyone else never;
- an EU debtor's outreach carried the debt-advice referral (a template tagged ``debt_advice``).

And for every escalation raised: legal action and agency placement never while a dispute, bankruptcy, an
attorney or breathing space is known, a field visit never under any hard stop; for an EU debtor, legal action
and agency placement only 14 days (14 x 24 hours) after a forbearance offer reached the debtor on the account
(a template tagged ``forbearance_offer`` sent, delivered, answered or left as voicemail, or a restructuring
offer raised).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones
from pydantic import BaseModel, ConfigDict

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus, Relation, RequestKind, TemplateTag
from services.core.codec import Envelope
from services.core.masking import mask_address
from services.core.settings import DEPLOY_DIR
from services.messaging.templates import Catalog
from services.reporting.provenance import Finding, Provenance, subject
from services.reporting.sends import accepted_at, final_status

OPEN, CLOSE = time(8, 0), time(21, 0)
MAX_PHONE_OFFSETS = 3
HARD_STOP_FLAGS = frozenset(
    {"attorney", "cease_communication", "deceased", "bankruptcy", "dispute", "breathing_space"}
)

S = OutcomeStatus
# From this instant the US pack revokes texts and calls together (47 CFR 64.1200(a)(10), as amended).
REVOKE_ALL_FROM = datetime(2027, 1, 31, tzinfo=UTC)
REVOKED_TOGETHER = frozenset({Channel.SMS, Channel.VOICE})
# China: when an emergency contact may be reached (the CBA guideline, as the product reads it).
FAILED_CALL = frozenset({S.NO_ANSWER, S.BUSY, S.NOT_CONNECTED, S.FAILED})
REACHED = frozenset({S.CONVERSATION, S.REPLIED, S.AGENT_TRANSFER})
UNREACHABLE_AFTER, REACHED_WITHIN = 3, timedelta(hours=72)
# An opt-out confirmation answers the STOP it confirms within five minutes (FCC, 47 CFR 64.1200(a)(12)).
CONFIRMATION_WITHIN = timedelta(minutes=5)
# The EU: forbearance before enforcement (CCD art. 35), as the product reads it.
OFFERED = frozenset({S.SENT, S.DELIVERED, S.CONVERSATION, S.VOICEMAIL})
FORBEARANCE_NOTICE = timedelta(days=14)
K = ev.EscalationKind
ENFORCEMENT = frozenset({K.LEGAL, K.AGENCY_PLACEMENT})
BARRING_ENFORCEMENT = frozenset({"dispute", "bankruptcy", "attorney", "breathing_space"})
PLACED = frozenset({S.NO_ANSWER, S.VOICEMAIL, S.CONVERSATION, S.AGENT_TRANSFER})
INITIATED = frozenset({S.SENT, S.DELIVERED, S.NO_ANSWER, S.VOICEMAIL, S.CONVERSATION, S.AGENT_TRANSFER})


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``limit`` counted sends on ``channels`` in ``days`` local days (the day of the send and the
    ones before it), per debtor or per account. ``counts`` None: every send that did not end ``failed``."""

    name: str
    jurisdiction: str | None
    channels: frozenset[Channel]
    limit: int
    days: int
    per_account: bool = False
    counts: frozenset[OutcomeStatus] | None = None


SMS, EMAIL, VOICE = frozenset({Channel.SMS}), frozenset({Channel.EMAIL}), frozenset({Channel.VOICE})
CAPS = (
    Cap("BANK: sms at most 1 per local day", None, SMS, 1, 1),
    Cap("BANK: sms at most 3 per 7 local days", None, SMS, 3, 7),
    Cap("BANK: email at most 1 per local day", None, EMAIL, 1, 1),
    Cap("BANK: voice at most 3 attempts per local day", None, VOICE, 3, 1),
    Cap("US: at most 7 placed calls per account in 7 days", "US", VOICE, 7, 7, True, PLACED),
    Cap("US-MA: at most 2 sms and calls per account in 7 days", "US-MA", SMS | VOICE, 2, 7, True, INITIATED),
)


class Violation(BaseModel):
    """One broken invariant; ``destination`` is masked, ``detail`` holds no personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    debtor_id: str
    request_id: str
    account_id: str
    channel: str
    destination: str
    at: datetime
    detail: str

    def line(self) -> str:
        return (
            f"{self.rule} debtor {self.debtor_id} account {self.account_id} request {self.request_id} "
            f"{self.channel} to {self.destination} at {self.at.isoformat()}: {self.detail}"
        )


class AuditResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sends: int
    violations: list[Violation]


@dataclass
class _Send:
    request_id: str
    debtor_id: str
    account_id: str
    channel: Channel
    destination: str
    kind: RequestKind
    sent_at: datetime
    final: OutcomeStatus | None
    approval: ev.ContactApproved | None

    @property
    def template(self) -> str:
        return self.approval.template if self.approval else ""


@dataclass
class _Debtor:
    """What reached the gatekeeper about one debtor, each with the ``ce_time`` it was published at."""

    profiles: list[tuple[datetime, ev.DebtorProfileUpdated]] = field(default_factory=list)
    account_events: list[tuple[datetime, BaseModel]] = field(default_factory=list)
    consents: list[tuple[datetime, ev.ConsentChanged]] = field(default_factory=list)
    wrong_party: list[tuple[datetime, str]] = field(default_factory=list)  # (published, address)
    escalations: list[ev.EscalationRaised] = field(default_factory=list)
    # Every approved attempt, sent or not, as (approved at, channel, destination, its outcomes).
    attempts: list[tuple[datetime, Channel, str, tuple[ev.ContactOutcome, ...]]] = field(default_factory=list)

    def profile(self, at: datetime, *, inclusive: bool) -> ev.DebtorProfileUpdated | None:
        before = [p for t, p in self.profiles if t < at or (inclusive and t == at)]
        return before[-1] if before else None


Tags = Callable[[str], frozenset[TemplateTag]]


def audit(
    envelopes: Iterable[Envelope[BaseModel]], provenance: Provenance | None = None, tags: Tags | None = None
) -> AuditResult:
    """Check every send and escalation in the log; the order of ``envelopes`` does not matter, duplicates are
    ignored. ``tags``: what each template is fit for (the shipped template catalog by default).

    With ``provenance`` (``services.reporting.provenance.check``: the envelopes then are the ones it kept), an
    approval counts only if its signature verified, and what provenance found is reported too."""
    tags = tags or _shipped_tags()
    sends, debtors = _index(envelopes, provenance.verified_approvals if provenance else None)
    violations: list[Violation] = [_finding(f) for f in provenance.findings] if provenance else []
    by_debtor: dict[str, list[_Send]] = defaultdict(list)
    for send in sends:
        by_debtor[send.debtor_id].append(send)
        debtor = debtors[send.debtor_id]
        violations.extend(_approval(send))
        violations.extend(_hours(send, debtor))
        violations.extend(_stops(send, debtor, tags))
        violations.extend(_debt_advice(send, debtor, tags))
    for debtor_id, mine in by_debtor.items():
        violations.extend(_caps(mine, debtors[debtor_id]))
        violations.extend(_third_parties(mine, debtors[debtor_id], tags))
    for debtor_id, debtor in debtors.items():
        violations.extend(_escalations(debtor, by_debtor.get(debtor_id, []), tags))
    violations.sort(key=lambda v: (v.at, v.debtor_id, v.rule))
    return AuditResult(sends=len(sends), violations=violations)


def _index(
    envelopes: Iterable[Envelope[BaseModel]], verified: set[str] | None
) -> tuple[list[_Send], dict[str, _Debtor]]:
    unique: dict[str, Envelope[BaseModel]] = {}
    for envelope in envelopes:
        unique.setdefault(envelope.id, envelope)
    debtors: dict[str, _Debtor] = defaultdict(_Debtor)
    requests: dict[str, ev.ContactRequested] = {}
    approvals: dict[str, ev.ContactApproved] = {}
    outcomes: dict[str, dict[str, ev.ContactOutcome]] = defaultdict(dict)
    for envelope in sorted(unique.values(), key=lambda e: e.time):
        event = envelope.event
        match event:
            case ev.DebtorProfileUpdated():
                debtors[event.debtor_id].profiles.append((envelope.time, event))
            case ev.PaymentPosted() | ev.AccountOverdue() | ev.AccountStatusChanged():
                debtors[event.debtor_id].account_events.append((envelope.time, event))
            case ev.ConsentChanged():
                debtors[event.debtor_id].consents.append((envelope.time, event))
            case ev.WrongPartyReported():
                debtors[event.debtor_id].wrong_party.append((envelope.time, event.address))
            case ev.EscalationRaised():
                debtors[event.debtor_id].escalations.append(event)
            case ev.ContactRequested():
                requests.setdefault(event.request_id, event)
            case ev.ContactApproved() if verified is None or event.request_id in verified:
                approvals.setdefault(event.request_id, event)
            case ev.ContactOutcome():
                outcomes[event.request_id].setdefault(event.outcome_id, event)
            case _:
                pass
    for request_id, approved in approvals.items():
        known = tuple(outcomes[request_id].values()) if request_id in outcomes else ()
        attempt = (approved.approved_at, approved.channel, approved.destination, known)
        debtors[approved.debtor_id].attempts.append(attempt)
    sends = []
    for request_id, observed in outcomes.items():
        sent_at = accepted_at(observed.values())
        if sent_at is None:
            continue
        first = next(iter(observed.values()))
        approval, request = approvals.get(request_id), requests.get(request_id)
        source = approval or request
        sends.append(
            _Send(
                request_id=request_id,
                debtor_id=first.debtor_id,
                account_id=first.account_id,
                channel=first.channel,
                destination=source.destination if source else "",
                kind=source.kind if source else RequestKind.OUTREACH,
                sent_at=sent_at,
                final=final_status(observed.values()),
                approval=approval,
            )
        )
    sends.sort(key=lambda s: s.sent_at)
    return sends, debtors


def _violation(send: _Send, rule: str, at: datetime, detail: str) -> Violation:
    return Violation(
        rule=rule,
        debtor_id=send.debtor_id,
        request_id=send.request_id,
        account_id=send.account_id,
        channel=send.channel.value,
        destination=mask_address(send.destination) if send.destination else "-",
        at=at,
        detail=detail,
    )


def _finding(finding: Finding) -> Violation:
    debtor, request, account, channel = subject(finding.envelope)
    return Violation(
        rule=finding.rule,
        debtor_id=debtor,
        request_id=request,
        account_id=account,
        channel=channel,
        destination="-",
        at=finding.envelope.time,
        detail=finding.detail,
    )


# ---- approval --------------------------------------------------------------------------------


def _approval(send: _Send) -> list[Violation]:
    if send.approval is None:
        return [
            _violation(send, "NO_APPROVAL", send.sent_at, "sent without a signed ContactApproved in the log")
        ]
    if send.sent_at > send.approval.valid_until:
        detail = f"sent after the approval's valid_until {send.approval.valid_until.isoformat()}"
        return [_violation(send, "AFTER_VALID_UNTIL", send.sent_at, detail)]
    return []


# ---- allowed hours ---------------------------------------------------------------------------


def _hours(send: _Send, debtor: _Debtor) -> list[Violation]:
    profile = debtor.profile(send.sent_at, inclusive=True)
    zones = candidate_zones(profile, send.sent_at) if profile else []
    if not zones:
        why = "no profile before the send" if profile is None else "no time zone for the debtor"
        return [_violation(send, "ZONE_UNKNOWN", send.sent_at, why)]
    if send.kind is RequestKind.REPLY:
        return []
    outside = []
    for zone in zones:
        local = send.sent_at.astimezone(ZoneInfo(zone))
        if not OPEN <= local.time() < CLOSE:
            outside.append(f"{local:%H:%M} in {zone}")
    if not outside:
        return []
    detail = f"{', '.join(outside)}: outside [08:00, 21:00)"
    return [_violation(send, "QUIET_HOURS", send.sent_at, detail)]


def candidate_zones(profile: ev.DebtorProfileUpdated, at: datetime) -> list[str]:
    """The stated zone and the zones of every phone (a phone spanning more than 3 UTC offsets gives none)."""
    zones = [profile.timezone] if profile.timezone and _valid(profile.timezone) else []
    for point in profile.contact_points:
        if point.type is ev.ContactPointType.PHONE:
            zones.extend(z for z in phone_zones(point.address, at) if z not in zones)
    return zones


def primary_zone(profile: ev.DebtorProfileUpdated, at: datetime) -> str | None:
    """The stated zone, else the first zone of the first phone that yields one; local days count in it."""
    if profile.timezone and _valid(profile.timezone):
        return profile.timezone
    for point in profile.contact_points:
        if point.type is ev.ContactPointType.PHONE and (zones := phone_zones(point.address, at)):
            return zones[0]
    return None


def phone_zones(number: str, at: datetime) -> list[str]:
    zones = _number_zones(number)
    offsets = {at.astimezone(ZoneInfo(zone)).utcoffset() for zone in zones}
    return list(zones) if len(offsets) <= MAX_PHONE_OFFSETS else []


@lru_cache(maxsize=65_536)
def _number_zones(number: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_timezones.time_zones_for_number(parsed) if z != "Etc/Unknown" and _valid(z))


@lru_cache(maxsize=1024)
def _valid(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---- frequency caps --------------------------------------------------------------------------


def _caps(sends: list[_Send], debtor: _Debtor) -> list[Violation]:
    approved = sorted((s for s in sends if s.approval is not None), key=_approved_at)
    violations = []
    for send in approved:
        if send.kind is RequestKind.REPLY:
            continue
        at = _approved_at(send)
        profile = debtor.profile(at, inclusive=True)
        zone = primary_zone(profile, at) if profile else None
        if profile is None or zone is None:
            continue  # reported as ZONE_UNKNOWN by the hours check
        jurisdictions = set(profile.jurisdictions)
        if "US-MA" in jurisdictions:
            jurisdictions.add("US")
        day = _local_day(at, zone)
        for cap in CAPS:
            if cap.jurisdiction is not None and cap.jurisdiction not in jurisdictions:
                continue
            if send.channel not in cap.channels or not _counts(cap, send):
                continue
            # Replies the debtor asked for are outside the caps (policy: a reply passes once no hard stop
            # applies), so they neither break a cap nor count towards one.
            window = [
                other
                for other in approved
                if other.kind is not RequestKind.REPLY
                and other.channel in cap.channels
                and _approved_at(other) <= at
                and (not cap.per_account or other.account_id == send.account_id)
                and _counts(cap, other)
                and day - timedelta(days=cap.days - 1) <= _local_day(_approved_at(other), zone) <= day
            ]
            if len(window) > cap.limit:
                detail = f"{cap.name}: {len(window)} sends approved in the window ending local day {day}"
                violations.append(_violation(send, "FREQUENCY_CAP", at, detail))
    return violations


def _counts(cap: Cap, send: _Send) -> bool:
    if cap.counts is None:
        return send.final is not OutcomeStatus.FAILED
    return send.final in cap.counts


def _approved_at(send: _Send) -> datetime:
    assert send.approval is not None
    return send.approval.approved_at


def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


# ---- stops -----------------------------------------------------------------------------------


def _stops(send: _Send, debtor: _Debtor, tags: Tags) -> list[Violation]:
    if send.approval is None:
        return []
    at = send.approval.approved_at
    confirming = send.kind is RequestKind.REPLY and TemplateTag.OPT_OUT_CONFIRMATION in tags(send.template)
    stops = [
        *_account_stops(send, debtor, at),
        *_profile_stops(debtor, at),
        *([] if confirming and _confirms(send, debtor, at) else _opt_out(send, debtor, at)),
        *_wrong_party(send, debtor, at),
    ]
    return [_violation(send, "AFTER_STOP", at, f"approved after {stop}") for stop in stops]


def _account_stops(send: _Send, debtor: _Debtor, at: datetime) -> list[str]:
    """Payment in full and closure hold until the account is overdue again; a dispute until it is closed;
    bankruptcy for good, on every account of the debtor."""
    paid: datetime | None = None
    closed: datetime | None = None
    disputed: datetime | None = None
    bankrupt: datetime | None = None
    for published, event in debtor.account_events:
        if published >= at:
            break
        match event:
            case ev.AccountStatusChanged(status=ev.AccountStatus.BANKRUPTCY):
                bankrupt = bankrupt or published
            case _ if getattr(event, "account_id", None) != send.account_id:
                pass
            case ev.PaymentPosted() if event.paid_in_full:
                paid = published
            case ev.AccountOverdue():
                paid = closed = None
            case ev.AccountStatusChanged(status=ev.AccountStatus.CLOSED):
                closed = published
            case ev.AccountStatusChanged(status=ev.AccountStatus.DISPUTE_OPENED):
                disputed = published
            case ev.AccountStatusChanged(status=ev.AccountStatus.DISPUTE_CLOSED):
                disputed = None
            case _:
                pass
    named = (("payment in full", paid), ("account closed", closed), ("dispute opened", disputed))
    stops = [f"{what} published {when.isoformat()}" for what, when in named if when is not None]
    if bankrupt is not None:
        stops.append(f"bankruptcy published {bankrupt.isoformat()}")
    return stops


def _profile_stops(debtor: _Debtor, at: datetime) -> list[str]:
    profile = debtor.profile(at, inclusive=False)
    flags = sorted(HARD_STOP_FLAGS.intersection(profile.flags)) if profile else []
    return [f"profile flag {flag}" for flag in flags]


def _wrong_party(send: _Send, debtor: _Debtor, at: datetime) -> list[str]:
    """A point reported as not the debtor's, before ``at``: it stays barred for this debtor for good."""
    reported = any(
        published < at and address == send.destination for published, address in debtor.wrong_party
    )
    return ["a wrong-party report on the destination"] if reported else []


def _confirms(send: _Send, debtor: _Debtor, at: datetime) -> bool:
    """Whether an opt-out confirmation approved at ``at`` answers a revocation request: an opt-out of its
    channel on its address published within the confirmation window before it (47 CFR 64.1200(a)(12): one
    text confirming the request, within five minutes). Only the opt-out is excused; every other stop holds."""
    return any(
        at - CONFIRMATION_WITHIN <= published <= at
        and change.change is ev.ConsentChange.OPT_OUT
        and change.address == send.destination
        and change.channel is send.channel
        for published, change in debtor.consents
    )


def _opt_out(send: _Send, debtor: _Debtor, at: datetime) -> list[str]:
    """Changes of the address on the channel published before ``at``, in the order they were published: an
    opt-out takes effect whatever its ``occurred_at``; an opt-in only if it is at least as new as every change
    before it (a late-arriving older opt-in does not undo an opt-out)."""
    profile = debtor.profile(at, inclusive=False)
    together = (
        at >= REVOKE_ALL_FROM
        and profile is not None
        and {"US", "US-MA"} & set(profile.jurisdictions)
        and send.channel in REVOKED_TOGETHER
    )
    channels = REVOKED_TOGETHER if together else frozenset({send.channel})
    changes = sorted(
        (
            (published, change)
            for published, change in debtor.consents
            if published < at and change.address == send.destination and change.channel in channels
        ),
        key=lambda item: item[0],
    )
    newest: datetime | None = None
    standing: datetime | None = None  # when the opt-out in force was published
    for published, change in changes:
        if change.change is ev.ConsentChange.OPT_OUT:
            standing = standing or published
            newest = change.occurred_at if newest is None else max(newest, change.occurred_at)
        elif newest is None or change.occurred_at >= newest:
            standing, newest = None, change.occurred_at
    if standing is not None:
        return [f"opt-out of {send.channel.value} published {standing.isoformat()}"]
    return []


# ---- third parties, debt advice, escalations ----------------------------------------------------------


@lru_cache(maxsize=1)
def _shipped_tags() -> Tags:
    return Catalog.load(DEPLOY_DIR / "templates").tags


def _relation(profile: ev.DebtorProfileUpdated | None, address: str) -> Relation:
    for point in profile.contact_points if profile else []:
        if point.address == address:
            return point.relation
    return Relation.SELF


def _third_parties(sends: list[_Send], debtor: _Debtor, tags: Tags) -> list[Violation]:
    violations = []
    approved = sorted((s for s in sends if s.approval is not None), key=_approved_at)
    for send in approved:
        at = _approved_at(send)
        profile = debtor.profile(at, inclusive=True)
        relation = _relation(profile, send.destination)
        if relation in (Relation.SELF, Relation.GUARANTOR):
            continue
        why = ""
        if relation is not Relation.EMERGENCY_CONTACT or profile is None or "CN" not in profile.jurisdictions:
            why = f"a contact of relation {relation.value}, which no law of the debtor's allows"
        elif TemplateTag.LIMITED_CONTENT not in tags(send.template):
            why = f"template {send.template} to an emergency contact is not limited content"
        elif not _unreachable(debtor, at):
            why = "an emergency contact while the debtor was reachable"
        if why:
            violations.append(_violation(send, "THIRD_PARTY", at, why))
    return violations


def _unreachable(debtor: _Debtor, at: datetime) -> bool:
    """Whether, at ``at``, the last three calls to the debtor's own points all failed and nothing reached
    the debtor in the 72 hours before, from what had happened by then: an attempt is history from its
    approval, with the outcomes that had occurred by ``at`` (one not known yet counts as not failed). When
    several calls share the instant of the oldest counted, every one of them must have failed."""
    own = [
        (when, channel, final_status(o for o in observed if o.occurred_at <= at))
        for when, channel, address, observed in debtor.attempts
        if when <= at and _relation(debtor.profile(when, inclusive=True), address) is Relation.SELF
    ]
    if any(final in REACHED and when >= at - REACHED_WITHIN for when, _, final in own):
        return False
    calls = sorted(((when, final) for when, channel, final in own if channel is Channel.VOICE), reverse=True)
    if len(calls) < UNREACHABLE_AFTER:
        return False
    oldest_counted = calls[UNREACHABLE_AFTER - 1][0]
    return all(final in FAILED_CALL for when, final in calls if when >= oldest_counted)


def _debt_advice(send: _Send, debtor: _Debtor, tags: Tags) -> list[Violation]:
    if send.approval is None or send.kind is not RequestKind.OUTREACH:
        return []
    at = send.approval.approved_at
    profile = debtor.profile(at, inclusive=True)
    if profile is None or "EU" not in profile.jurisdictions or TemplateTag.DEBT_ADVICE in tags(send.template):
        return []
    detail = f"template {send.template} carries no debt-advice referral (EU debtor)"
    return [_violation(send, "DEBT_ADVICE", at, detail)]


def _escalations(debtor: _Debtor, sends: list[_Send], tags: Tags) -> list[Violation]:
    violations = []
    for raised in debtor.escalations:
        at = raised.raised_at
        profile = debtor.profile(at, inclusive=False)
        flags = set(profile.flags) if profile else set()
        flags |= set(_account_stops_of(debtor, raised.account_id, at))
        barring = BARRING_ENFORCEMENT if raised.kind in ENFORCEMENT else HARD_STOP_FLAGS
        if raised.kind in (*ENFORCEMENT, K.FIELD_VISIT) and (barred := sorted(flags & barring)):
            violations.append(
                _escalation(raised, "ESCALATION_AFTER_STOP", f"raised after {', '.join(barred)}")
            )
        if raised.kind in ENFORCEMENT and profile is not None and "EU" in profile.jurisdictions:
            offers = [
                _approved_at(s)
                for s in sends
                if s.approval is not None
                and s.account_id == raised.account_id
                and TemplateTag.FORBEARANCE_OFFER in tags(s.template)
                and s.final in OFFERED
            ]
            offers += [
                e.raised_at
                for e in debtor.escalations
                if e.kind is K.RESTRUCTURING_OFFER and e.account_id == raised.account_id
            ]
            if not any(offer <= at - FORBEARANCE_NOTICE for offer in offers):
                detail = "no forbearance offer 14 days before (EU debtor)"
                violations.append(_escalation(raised, "NO_FORBEARANCE", detail))
    return violations


def _account_stops_of(debtor: _Debtor, account_id: str, at: datetime) -> list[str]:
    """``dispute`` and ``bankruptcy`` known before ``at`` on the account (the audit's own words for them)."""
    disputed = bankrupt = False
    for published, event in debtor.account_events:
        if published >= at:
            break
        if isinstance(event, ev.AccountStatusChanged):
            if event.status is ev.AccountStatus.BANKRUPTCY:
                bankrupt = True
            elif event.account_id == account_id and event.status is ev.AccountStatus.DISPUTE_OPENED:
                disputed = True
            elif event.account_id == account_id and event.status is ev.AccountStatus.DISPUTE_CLOSED:
                disputed = False
    return [*(["dispute"] if disputed else []), *(["bankruptcy"] if bankrupt else [])]


def _escalation(raised: ev.EscalationRaised, rule: str, detail: str) -> Violation:
    return Violation(
        rule=rule,
        debtor_id=raised.debtor_id,
        request_id=raised.escalation_id,
        account_id=raised.account_id,
        channel=f"escalation {raised.kind.value}",
        destination="-",
        at=raised.raised_at,
        detail=detail,
    )
