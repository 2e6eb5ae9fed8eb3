"""Property tests against an independent, deliberately naive checker of the product's rules.

The checker re-reads the product rules as written (not from the policy files) and recounts caps from the raw
history at a given instant. Properties: a hard stop blocks with exactly the hard stops; an
allowed contact breaks no rule for as long as it is valid; a deferred ``not_before`` is the earliest instant
at which every rule holds; a blocked-as-expired request had no such instant before it expired. Third parties,
the debt-advice referral and TCPA revoke-all are hard stops; escalations are checked decision for decision.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as phone_timezone

from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode, RequestKind
from services.gatekeeper.engine import decide
from services.gatekeeper.model import DecideInput, Decision, EscalationEntry, HistoryEntry
from services.gatekeeper.policy import PolicyBook
from tests.unit.gatekeeper.builders import BOOK

R = ReasonCode
OS = OutcomeStatus
CN_CALENDAR = holidays.CN()
# Every window edge, midnight and DST change of the zones below falls on this grid of UTC instants.
GRID = timedelta(minutes=15)
HORIZON = timedelta(days=30)

FLAG_CODES = {
    "attorney": R.ATTORNEY,
    "cease_communication": R.CEASE_COMMUNICATION,
    "deceased": R.DECEASED,
    "bankruptcy": R.BANKRUPTCY,
    "dispute": R.DISPUTE,
    "breathing_space": R.BREATHING_SPACE,
}
PLACED = {OS.NO_ANSWER, OS.VOICEMAIL, OS.CONVERSATION, OS.APPROVED}
INITIATED = {OS.APPROVED, OS.SENT, OS.DELIVERED, OS.NO_ANSWER, OS.VOICEMAIL, OS.CONVERSATION}
UNANSWERED = {OS.NO_ANSWER, OS.BUSY, OS.VOICEMAIL}
# The third-party, EU and TCPA rules.
CALL_FAILED = {OS.NO_ANSWER, OS.BUSY, OS.NOT_CONNECTED, OS.FAILED}
REACHED = {OS.CONVERSATION, OS.REPLIED, OS.AGENT_TRANSFER}
OFFER_REACHED = {OS.SENT, OS.DELIVERED, OS.CONVERSATION, OS.VOICEMAIL}
EU_START = datetime(2026, 11, 20, tzinfo=UTC)
REVOKE_ALL = datetime(2027, 1, 31, tzinfo=UTC)
# Escalation: the flags that bar it.
LEGAL_STOPS = {"dispute", "bankruptcy", "attorney", "breathing_space"}
ESCALATION_STOPS = {
    "legal": LEGAL_STOPS,
    "agency_placement": LEGAL_STOPS,
    "field_visit": set(FLAG_CODES),
    "restructuring_offer": set(),
}


# --- the naive checker ----------------------------------------------------------------------------------


def _number_zones(phone: str, now: datetime) -> list[ZoneInfo]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return []
    names = [name for name in phone_timezone.time_zones_for_number(number) if name != "Etc/Unknown"]
    if len({now.astimezone(ZoneInfo(name)).utcoffset() for name in names}) > 3:
        return []
    return [ZoneInfo(name) for name in names]


def naive_zones(inp: DecideInput, now: datetime) -> list[ZoneInfo]:
    """Candidate zones, the primary one first: the debtor's, then the destination number's (if the debtor
    has any zone at all)."""
    zones = [ZoneInfo(inp.debtor.timezone)] if inp.debtor.timezone else []
    for phone in inp.debtor.phones:
        zones += [zone for zone in _number_zones(phone, now) if zone not in zones]
    destination = inp.request.destination
    if zones and destination is not None and destination.address is not None:
        zones += [zone for zone in _number_zones(destination.address, now) if zone not in zones]
    return zones


def packs(inp: DecideInput) -> set[str]:
    found = set(inp.debtor.jurisdictions)
    return found | {"US"} if "US-MA" in found else found


def contacts(inp: DecideInput) -> list[HistoryEntry]:
    return [e for e in inp.history if isinstance(e, HistoryEntry)]


def naive_reachable(inp: DecideInput, now: datetime) -> bool:
    """As written: unreachable means at least three voice attempts to the debtor's own points, the three most
    recent all failed, and nothing reached them in the last 72 hours. A call could be among the three
    most recent when fewer than three calls are strictly later than it."""
    own = [e for e in contacts(inp) if e.relation.value == "self" and e.at <= now]
    if any(e.outcome in REACHED and now - e.at <= timedelta(hours=72) for e in own):
        return True
    calls = [e for e in own if e.channel is Channel.VOICE]
    if len(calls) < 3:
        return True
    for call in calls:
        later = sum(1 for other in calls if other.at > call.at)
        if later < 3 and call.outcome not in CALL_FAILED:
            return True
    return False


def naive_hard_stops(inp: DecideInput, now: datetime) -> set[ReasonCode]:
    debtor, request = inp.debtor, inp.request
    channel = request.channel
    stops = {FLAG_CODES[flag] for flag in debtor.flags if flag in FLAG_CODES}
    if channel in debtor.opt_outs:
        stops.add(R.OPTED_OUT)
    revoke_all = "US" in packs(inp) and now >= REVOKE_ALL
    calls_and_texts = (Channel.SMS, Channel.VOICE)
    if revoke_all and channel in calls_and_texts and any(c in calls_and_texts for c in debtor.opt_outs):
        stops.add(R.OPTED_OUT)
    if "US" in packs(inp) and channel in (Channel.SMS, Channel.VOICE) and channel not in debtor.consents:
        stops.add(R.NO_CONSENT)
    if not naive_zones(inp, now):
        stops.add(R.TIMEZONE_UNKNOWN)
    relation = "self" if request.destination is None else request.destination.relation.value
    tags = {tag.value for tag in request.template_tags}
    if "CN" in packs(inp):
        if relation == "other":
            stops.add(R.THIRD_PARTY_NOT_ALLOWED)
        if relation == "emergency_contact":
            if naive_reachable(inp, now):
                stops.add(R.THIRD_PARTY_NOT_ALLOWED)
            if "limited_content" not in tags:
                stops.add(R.THIRD_PARTY_DISCLOSURE)
    elif relation not in ("self", "guarantor"):
        stops.add(R.THIRD_PARTY_NOT_ALLOWED)
    if "EU" in packs(inp) and request.kind is RequestKind.OUTREACH and "debt_advice" not in tags:
        stops.add(R.DEBT_ADVICE_REQUIRED)
    return stops


def next_version(inp: DecideInput, now: datetime) -> datetime | None:
    """The only pack that changes version after the earliest generated instant: US, at revoke-all."""
    return REVOKE_ALL if "US" in packs(inp) and now < REVOKE_ALL else None


def _ceil(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def naive_escalation(
    inp: DecideInput, now: datetime
) -> tuple[DecisionKind, set[ReasonCode], datetime | None]:
    """The decision, its reasons and its instant (``not_before`` or ``valid_until``) for an escalation."""
    request = inp.request
    assert request.escalation is not None
    kind = request.escalation.value
    stops = {FLAG_CODES[flag] for flag in inp.debtor.flags if flag in ESCALATION_STOPS[kind]}
    if stops:
        return DecisionKind.BLOCK, stops, None
    waits: list[tuple[ReasonCode, datetime]] = []
    if request.not_before is not None:
        waits.append((R.NOT_BEFORE, _ceil(request.not_before)))
    if "EU" in packs(inp) and kind in ("legal", "agency_placement"):
        offers = [
            e.at
            for e in contacts(inp)
            if e.account_id == request.account_id
            and "forbearance_offer" in {tag.value for tag in e.template_tags}
            and e.outcome in OFFER_REACHED
            and e.at <= now
        ] + [
            e.at
            for e in inp.history
            if isinstance(e, EscalationEntry)
            and e.account_id == request.account_id
            and e.escalation.value == "restructuring_offer"
            and e.decision is DecisionKind.ALLOW
            and e.at <= now
        ]
        if not offers:
            return DecisionKind.BLOCK, {R.FORBEARANCE_REQUIRED}, None
        if not any(now - offer >= timedelta(days=14) for offer in offers):
            waits.append((R.FORBEARANCE_REQUIRED, _ceil(min(offers) + timedelta(days=14))))
    at_now = {reason for reason, at in waits if at > now}
    earliest = max([now, *(at for _, at in waits)])
    expires = request.expires_at
    if (expires is not None and earliest >= expires) or earliest > now + HORIZON:
        return DecisionKind.BLOCK, at_now | {R.EXPIRED}, None
    if earliest > now:
        return DecisionKind.DEFER, at_now, earliest
    caps = [now + HORIZON, expires, next_version(inp, now)]
    return DecisionKind.ALLOW, set(), min(c for c in caps if c is not None)


def _inside(start: time, end: time, moment: time) -> bool:
    return start <= moment < end if start < end else (moment >= start or moment < end)


def naive_failures(inp: DecideInput, zones: list[ZoneInfo], t: datetime, hours: bool) -> set[ReasonCode]:
    """The timing reasons that fail for the request at instant ``t`` (``zones`` as of the decision)."""
    request, debtor = inp.request, inp.debtor
    channel, account = request.channel, request.account_id
    primary = zones[0]
    failing: set[ReasonCode] = set()
    if request.not_before is not None and t < request.not_before:
        failing.add(R.NOT_BEFORE)
    if hours and any(not time(8) <= t.astimezone(zone).time() < time(21) for zone in zones):
        failing.add(R.QUIET_HOURS)
    eu_hours = hours and "EU" in packs(inp)
    if eu_hours and any(not time(8) <= t.astimezone(zone).time() < time(20) for zone in zones):
        failing.add(R.QUIET_HOURS)
    here = t.astimezone(primary)
    if any(_inside(w.start, w.end, here.time()) for w in debtor.inconvenient):
        failing.add(R.QUIET_HOURS)
    today = here.date()
    if "CN" in packs(inp) and not CN_CALENDAR.is_working_day(today):
        failing.add(R.NON_WORKING_DAY)

    def days_back(at: datetime) -> int:
        return (today - at.astimezone(primary).date()).days

    def count(days: int, channels: set[Channel], outcomes: set[OutcomeStatus], per_account: bool) -> int:
        return sum(
            1
            for e in contacts(inp)
            if e.channel in channels
            and e.outcome in outcomes
            and (not per_account or e.account_id == account)
            and 0 <= days_back(e.at) < days
        )

    not_failed = set(OS) - {OS.FAILED}
    capped = False
    if channel is Channel.SMS:
        capped |= count(1, {Channel.SMS}, not_failed, False) >= 1
        capped |= count(7, {Channel.SMS}, not_failed, False) >= 3
    if channel is Channel.EMAIL:
        capped |= count(1, {Channel.EMAIL}, not_failed, False) >= 1
    if channel is Channel.VOICE:
        capped |= count(1, {Channel.VOICE}, not_failed, False) >= 3
    if "US" in packs(inp) and channel is Channel.VOICE:
        capped |= count(7, {Channel.VOICE}, PLACED, True) >= 7
        if count(7, {Channel.VOICE}, {OS.CONVERSATION}, True):
            failing.add(R.CONVERSATION_COOLDOWN)
    if "US-MA" in packs(inp) and channel in (Channel.SMS, Channel.VOICE):
        capped |= count(7, {Channel.SMS, Channel.VOICE}, INITIATED, True) >= 2
    if "CN" in packs(inp) and channel is Channel.VOICE:
        capped |= count(1, {Channel.VOICE}, UNANSWERED, False) >= 6
        capped |= count(1, {Channel.VOICE}, {OS.CONVERSATION}, False) >= 3
    if capped:
        failing.add(R.FREQUENCY_CAP)
    return failing


def grid_after(start: datetime, stop: datetime) -> list[datetime]:
    """The grid instants g with start < g < stop."""
    first = datetime.fromtimestamp((int(start.timestamp()) // 900 + 1) * 900, UTC)
    points = []
    while first < stop:
        points.append(first)
        first += GRID
    return points


# --- strategies -----------------------------------------------------------------------------------------

ZONES = [None, "America/New_York", "America/Los_Angeles", "Asia/Shanghai", "Europe/London", "Asia/Kolkata"]
PHONES = [
    "+12125550100",
    "+13105550100",
    "+16175550100",
    "+18005550100",
    "+442071234567",
    "+8613800138000",
    "12345",
]
# Days around DST changes in New York and London, China's Spring Festival and National Day, the day the EU
# pack applies and the days before TCPA revoke-all.
SPECIAL_DAYS = [
    datetime(2026, 3, 7, tzinfo=UTC),
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2026, 10, 31, tzinfo=UTC),
    datetime(2026, 2, 12, tzinfo=UTC),
    datetime(2026, 9, 29, tzinfo=UTC),
    datetime(2026, 11, 19, tzinfo=UTC),
    datetime(2027, 1, 29, 12, tzinfo=UTC),
    datetime(2027, 1, 30, 12, tzinfo=UTC),
]


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    base = draw(
        st.one_of(
            st.sampled_from(SPECIAL_DAYS),
            st.datetimes(min_value=datetime(2026, 1, 12), max_value=datetime(2027, 3, 1)).map(
                lambda d: d.replace(tzinfo=UTC)
            ),
        )
    )
    return base + timedelta(
        seconds=draw(st.integers(0, 3 * 86400)), microseconds=draw(st.integers(0, 999_999))
    )


def _quarter(index: int) -> str:
    return f"{index % 96 // 4:02d}:{index % 4 * 15:02d}"


def windows_from(edges: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, str]]:
    return (
        st.tuples(edges, edges)
        .filter(lambda pair: pair[0] != pair[1])
        .map(lambda pair: {"start": _quarter(pair[0]), "end": _quarter(pair[1])})
    )


windows_strategy = windows_from(st.integers(0, 95))


# Repeated values make the interesting cases (voice calls, conversations, caps) frequent enough to matter.
CHANNELS = ["sms", "email", "voice", "voice"]
OUTCOMES = [o.value for o in OS] + ["conversation", "no_answer", "voicemail", "delivered"] * 2
# Failed calls often enough that a debtor is now and then unreachable.
CALL_OUTCOMES = [*OUTCOMES, "no_answer", "busy", "not_connected", "failed"] * 2
# sampled_from draws uniformly, unlike integers, which favours its bounds.
ONE_IN_TEN = st.sampled_from([True] + [False] * 9)
ONE_IN_FOUR = st.sampled_from([True, False, False, False])
TAGS = st.lists(st.sampled_from(["limited_content", "debt_advice", "forbearance_offer"]), unique=True)
RELATIONS = ["self", "self", "self", "guarantor", "emergency_contact", "emergency_contact", "other"]
ADDRESSES = [None, "d1@example.com", *PHONES]
ESCALATIONS = ["legal", "agency", "agency_placement", "field_visit", "restructuring_offer"]


@st.composite
def contact_entries(draw: st.DrawFn, now: datetime, accounts: st.SearchStrategy[str]) -> dict[str, object]:
    channel = draw(st.sampled_from(CHANNELS))
    found: dict[str, object] = {
        "channel": channel,
        "account_id": draw(accounts),
        # Up to 20 days back: 7 local days for caps, 72 hours for reachability, 14 days for forbearance.
        "at": (now - timedelta(seconds=draw(st.integers(-600, 20 * 86400)))).isoformat(),
        "outcome": draw(st.sampled_from(CALL_OUTCOMES if channel == "voice" else OUTCOMES)),
    }
    if draw(ONE_IN_FOUR):
        found["relation"] = draw(st.sampled_from(RELATIONS))
    if draw(ONE_IN_FOUR):
        found["template_tags"] = draw(TAGS)
    return found


@st.composite
def escalation_entries(draw: st.DrawFn, now: datetime, accounts: st.SearchStrategy[str]) -> dict[str, object]:
    return {
        "kind": "escalation",
        "escalation": draw(st.sampled_from(ESCALATIONS)),
        "account_id": draw(accounts),
        "at": (now - timedelta(seconds=draw(st.integers(-600, 20 * 86400)))).isoformat(),
        "decision": draw(st.sampled_from(["allow", "allow", "defer", "block"])),
    }


@st.composite
def inputs(draw: st.DrawFn) -> DecideInput:
    now = draw(instants())
    accounts = st.sampled_from(["a1", "a2"])
    history = draw(
        st.lists(
            st.one_of(
                contact_entries(now, accounts),
                contact_entries(now, accounts),
                contact_entries(now, accounts),
                escalation_entries(now, accounts),
            ),
            max_size=14,
        )
    )

    def rarely(strategy: st.SearchStrategy[list[str]]) -> list[str]:
        # About one input in ten gets a hard stop of each kind; the rest exercise the timing rules.
        return draw(strategy) if draw(ONE_IN_TEN) else []

    def maybe_time(low: int, high: int) -> str | None:
        if draw(st.booleans()):
            return None
        shift = timedelta(seconds=draw(st.integers(low, high)), microseconds=draw(st.integers(0, 999_999)))
        return (now + shift).isoformat()

    all_channels = [c.value for c in Channel]
    jurisdictions = draw(
        st.lists(st.sampled_from(["US", "US-MA", "CN", "GB", "EU"]), unique=True, max_size=2)
    )
    if now.replace(microsecond=0) < EU_START:
        jurisdictions = [j for j in jurisdictions if j != "EU"]
    kind = draw(st.sampled_from(["outreach"] * 7 + ["reply", "escalation", "escalation"]))
    request: dict[str, object] = {"request_id": "r1", "account_id": draw(accounts), "kind": kind}
    if kind == "escalation":
        request["escalation"] = draw(st.sampled_from(ESCALATIONS))
    else:
        request["channel"] = draw(st.sampled_from(CHANNELS))
        if draw(ONE_IN_FOUR):
            request["destination"] = {
                "address": draw(st.sampled_from(ADDRESSES)),
                "relation": draw(st.sampled_from(RELATIONS)),
            }
        # Mostly with the debt-advice tag, or nearly every EU outreach would be blocked for the lack of it.
        request["template_tags"] = draw(TAGS) if draw(ONE_IN_FOUR) else ["debt_advice"]
    return DecideInput.model_validate(
        {
            "now": now.isoformat(),
            "debtor": {
                "debtor_id": "d1",
                "jurisdictions": jurisdictions,
                "timezone": draw(st.sampled_from(ZONES[1:] * 2 + [None])),
                "phones": draw(st.lists(st.sampled_from(PHONES), max_size=2)),
                "consents": [
                    c for c in all_channels if c not in rarely(st.lists(st.sampled_from(all_channels)))
                ],
                "opt_outs": rarely(st.lists(st.sampled_from(all_channels), max_size=1)),
                "flags": rarely(st.lists(st.sampled_from([*FLAG_CODES, "vip"]), min_size=1, max_size=2)),
                "inconvenient": draw(st.lists(windows_strategy, max_size=2)),
            },
            "request": {
                **request,
                "not_before": maybe_time(-86400, 3 * 86400),
                "expires_at": maybe_time(-3600, 10 * 86400),
            },
            "history": history,
        }
    )


# --- properties -----------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Without the 08:00-21:00 window, night-time edges (DST gaps and repeats, midnights) decide the outcome too.
WITHOUT_HOURS = PolicyBook.from_packs(
    pack.model_copy(update={"versions": tuple(v.model_copy(update={"windows": ()}) for v in pack.versions)})
    for pack in BOOK.packs.values()
)


@PROPERTY_SETTINGS
@given(inputs(), st.booleans())
def test_decisions_agree_with_the_naive_checker(inp: DecideInput, hours: bool) -> None:
    check_against_naive_checker(inp, hours)


# The nights on which New York, Los Angeles and London change their clocks in 2026 (UTC, a little before).
DST_NIGHTS = [
    ("America/New_York", datetime(2026, 3, 8, 3, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC)),
    ("America/Los_Angeles", datetime(2026, 3, 8, 6, tzinfo=UTC)),
    ("America/Los_Angeles", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 3, 28, 22, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 10, 24, 22, tzinfo=UTC)),
]


@PROPERTY_SETTINGS
@given(
    st.sampled_from(DST_NIGHTS),
    st.integers(0, 6 * 3600),
    st.lists(windows_from(st.integers(0, 16)), min_size=1, max_size=2),
)
def test_dst_nights_agree_with_the_naive_checker(
    night: tuple[str, datetime], seconds: int, windows: list[dict[str, str]]
) -> None:
    # Inconvenient windows with edges from 00:00 to 04:00 local: some fall in the skipped or repeated hour.
    zone, start = night
    inp = DecideInput.model_validate(
        {
            "now": (start + timedelta(seconds=seconds)).isoformat(),
            "debtor": {"debtor_id": "d1", "timezone": zone, "inconvenient": windows},
            "request": {"request_id": "r1", "account_id": "a1", "channel": "email"},
        }
    )
    check_against_naive_checker(inp, hours=False)


# Targeted properties: the general inputs seldom make a debtor unreachable, an offer nearly 14 days old, or an
# opt-out the day revoke-all takes effect.


@st.composite
def third_party_inputs(draw: st.DrawFn) -> DecideInput:
    """A CN debtor and a request to an emergency contact (now and then another relation), with calls that
    mostly failed and a conversation now and then around 72 hours back."""
    now = draw(instants())
    calls = [
        {
            "channel": "voice",
            "account_id": draw(st.sampled_from(["a1", "a2"])),
            "at": (now - timedelta(hours=draw(st.integers(1, 120)))).isoformat(),
            "outcome": draw(st.sampled_from(["no_answer", "busy", "not_connected", "failed"] * 4 + OUTCOMES)),
            "relation": draw(st.sampled_from(["self"] * 5 + RELATIONS)),
        }
        for _ in range(draw(st.integers(0, 6)))
    ]
    reached = [
        {
            "channel": draw(st.sampled_from(CHANNELS)),
            "account_id": "a1",
            "at": (now - timedelta(seconds=draw(st.integers(71 * 3600, 73 * 3600)))).isoformat(),
            "outcome": draw(st.sampled_from(["conversation", "replied", "agent_transfer", "voicemail"])),
            "relation": draw(st.sampled_from(RELATIONS)),
        }
        for _ in range(draw(st.integers(0, 1)))
    ]
    relation = draw(st.sampled_from(["emergency_contact"] * 4 + RELATIONS))
    return DecideInput.model_validate(
        {
            "now": now.isoformat(),
            "debtor": {
                "debtor_id": "d1",
                "jurisdictions": draw(st.sampled_from([["CN"], ["CN"], ["CN", "US"], ["GB"], []])),
                "timezone": draw(st.sampled_from(["Asia/Shanghai", "America/New_York"])),
                "consents": ["sms", "email", "voice"],
            },
            "request": {
                "request_id": "r1",
                "account_id": "a1",
                "channel": draw(st.sampled_from(CHANNELS)),
                "kind": draw(st.sampled_from(["outreach", "outreach", "reply"])),
                "destination": {"address": draw(st.sampled_from(ADDRESSES)), "relation": relation},
                "template_tags": draw(st.sampled_from([["limited_content"], ["limited_content"], []])),
            },
            "history": [*calls, *reached],
        }
    )


@st.composite
def forbearance_inputs(draw: st.DrawFn) -> DecideInput:
    """An EU debtor's escalation with offers (or near-offers) around 14 days old."""
    # To the second, so that an offer can be exactly 14 days old.
    now = draw(st.datetimes(min_value=datetime(2026, 11, 20), max_value=datetime(2027, 6, 1))).replace(
        tzinfo=UTC, microsecond=0
    )

    def ago() -> str:
        # Often exactly 14 days, or a second either side; now and then a microsecond short of it.
        near = st.sampled_from([14 * 86400, 14 * 86400, 14 * 86400 - 1, 14 * 86400 + 1])
        seconds = draw(st.one_of(near, st.integers(13 * 86400, 15 * 86400), st.integers(-3600, 30 * 86400)))
        micro = draw(st.sampled_from([0, 0, 0, -1]))
        return (now - timedelta(seconds=seconds, microseconds=micro)).isoformat()

    offers: list[dict[str, object]] = [
        {
            "channel": draw(st.sampled_from(CHANNELS)),
            "account_id": draw(st.sampled_from(["a1", "a1", "a2"])),
            "at": ago(),
            "outcome": draw(
                st.sampled_from(["sent", "delivered", "conversation", "voicemail"] * 3 + OUTCOMES)
            ),
            "template_tags": draw(
                st.sampled_from([["forbearance_offer"], ["forbearance_offer", "debt_advice"], []])
            ),
        }
        for _ in range(draw(st.integers(0, 4)))
    ]
    offers += [
        {
            "kind": "escalation",
            "escalation": draw(st.sampled_from(ESCALATIONS)),
            "account_id": draw(st.sampled_from(["a1", "a1", "a2"])),
            "at": ago(),
            "decision": draw(st.sampled_from(["allow", "allow", "defer", "block"])),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]

    def maybe_time(low: int, high: int) -> str | None:
        if draw(st.booleans()):
            return None
        return (now + timedelta(seconds=draw(st.integers(low, high)))).isoformat()

    def rarely(strategy: st.SearchStrategy[list[str]]) -> list[str]:
        return draw(strategy) if draw(ONE_IN_FOUR) else []

    return DecideInput.model_validate(
        {
            "now": now.isoformat(),
            "debtor": {
                "debtor_id": "d1",
                "jurisdictions": draw(st.sampled_from([["EU"], ["EU"], ["EU", "US"], ["GB"]])),
                "flags": rarely(st.lists(st.sampled_from([*FLAG_CODES, "vip"]), min_size=1, max_size=2)),
            },
            "request": {
                "request_id": "r1",
                "account_id": "a1",
                "kind": "escalation",
                "escalation": draw(st.sampled_from(["legal", "agency", "legal", "agency", *ESCALATIONS])),
                "not_before": maybe_time(-86400, 20 * 86400),
                "expires_at": maybe_time(-3600, 20 * 86400),
            },
            "history": offers,
        }
    )


@st.composite
def revoke_all_inputs(draw: st.DrawFn) -> DecideInput:
    """A US or US-MA debtor with opt-outs, in the days around 2027-01-31T00:00:00Z."""
    now = REVOKE_ALL + timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400)))
    all_channels = [c.value for c in Channel]
    return DecideInput.model_validate(
        {
            "now": now.isoformat(),
            "debtor": {
                "debtor_id": "d1",
                "jurisdictions": draw(st.sampled_from([["US"], ["US-MA"], ["GB"], ["CN"]])),
                "timezone": draw(st.sampled_from(["America/New_York", "America/Los_Angeles"])),
                "consents": draw(st.lists(st.sampled_from(all_channels), unique=True, min_size=2)),
                "opt_outs": draw(st.lists(st.sampled_from(all_channels), unique=True, max_size=2)),
            },
            "request": {
                "request_id": "r1",
                "account_id": "a1",
                "channel": draw(st.sampled_from(all_channels)),
                "kind": draw(st.sampled_from(["outreach", "outreach", "reply"])),
            },
        }
    )


@PROPERTY_SETTINGS
@given(third_party_inputs())
def test_third_parties_agree_with_the_naive_checker(inp: DecideInput) -> None:
    check_against_naive_checker(inp, hours=True)


@PROPERTY_SETTINGS
@given(forbearance_inputs())
def test_forbearance_agrees_with_the_naive_checker(inp: DecideInput) -> None:
    check_against_naive_checker(inp, hours=True)


@PROPERTY_SETTINGS
@given(revoke_all_inputs())
def test_revoke_all_agrees_with_the_naive_checker(inp: DecideInput) -> None:
    check_against_naive_checker(inp, hours=True)


def check_against_naive_checker(inp: DecideInput, hours: bool) -> None:
    now = inp.now.replace(microsecond=0)
    decision = decide(inp, BOOK if hours else WITHOUT_HOURS)
    if inp.request.kind is RequestKind.ESCALATION:
        check_escalation(inp, now, decision)
        return
    stops = naive_hard_stops(inp, now)
    if stops:
        assert (decision.decision, set(decision.reasons)) == (DecisionKind.BLOCK, stops)
        return
    if inp.request.kind is RequestKind.REPLY:
        assert (decision.decision, decision.reasons) == (DecisionKind.ALLOW, [])
        caps = [now + timedelta(hours=1), inp.request.expires_at, next_version(inp, now)]
        assert decision.valid_until == min(c for c in caps if c is not None)
        return
    checker = Checker(inp, now, hours)
    expires = inp.request.expires_at
    at_now = checker.failures(now)
    if decision.decision is DecisionKind.ALLOW:
        assert at_now == set()
        assert decision.valid_until is not None
        checker.check_allowed_until(decision.valid_until)
    elif decision.decision is DecisionKind.DEFER:
        assert decision.not_before is not None
        assert set(decision.reasons) == at_now
        assert expires is None or decision.not_before < expires
        checker.check_earliest(decision.not_before)
    else:
        assert set(decision.reasons) == at_now | {R.EXPIRED}
        if expires is not None and expires > now:
            checker.check_never_before(min(expires, now + HORIZON + timedelta(seconds=1)))


class Checker:
    def __init__(self, inp: DecideInput, now: datetime, hours: bool) -> None:
        self.inp, self.now, self.hours = inp, now, hours
        self.zones = naive_zones(inp, now)

    def failures(self, moment: datetime) -> set[ReasonCode]:
        return naive_failures(self.inp, self.zones, moment, self.hours)

    def check_allowed_until(self, valid_until: datetime) -> None:
        """No rule fails at any instant before ``valid_until``, and one fails at it unless it is a cap (the
        horizon, expiry, or the next version of a pack)."""
        assert valid_until > self.now
        for moment in [*grid_after(self.now, valid_until), max(self.now, valid_until - timedelta(seconds=1))]:
            assert self.failures(moment) == set(), moment
        expires = self.inp.request.expires_at
        change = next_version(self.inp, self.now)
        assert change is None or valid_until <= change
        capped = valid_until in (self.now + HORIZON, expires, change)
        if not capped:
            assert self.failures(valid_until) != set()

    def check_earliest(self, not_before: datetime) -> None:
        """Every rule holds at ``not_before``; one second before, and at every earlier boundary, one fails."""
        assert self.now < not_before <= self.now + HORIZON
        assert not_before.microsecond == 0
        assert self.failures(not_before) == set()
        assert self.failures(not_before - timedelta(seconds=1)) != set()
        self.check_never_before(not_before)

    def check_never_before(self, stop: datetime) -> None:
        candidates = [self.now, *grid_after(self.now, stop)]
        requested = self.inp.request.not_before
        if requested is not None:
            # Decisions are to the second: the first whole second at or after the requested instant.
            whole = requested.replace(microsecond=0)
            whole += timedelta(seconds=1) if whole < requested else timedelta(0)
            if self.now < whole < stop:
                candidates.append(whole)
        for moment in candidates:
            assert self.failures(moment) != set(), moment


def check_escalation(inp: DecideInput, now: datetime, decision: Decision) -> None:
    kind, reasons, instant = naive_escalation(inp, now)
    assert (decision.decision, set(decision.reasons)) == (kind, reasons)
    assert decision.not_before == (instant if kind is DecisionKind.DEFER else None)
    assert decision.valid_until == (instant if kind is DecisionKind.ALLOW else None)


def test_grid_covers_every_boundary_of_the_generated_inputs() -> None:
    # The "earlier instants fail" checks rely on every boundary but now and not_before being on the grid.
    for name in [zone for zone in ZONES if zone]:
        for day in (date(2026, 1, 15), date(2026, 7, 15)):
            offset = datetime.combine(day, time(12), tzinfo=ZoneInfo(name)).utcoffset()
            assert offset is not None and offset % GRID == timedelta(0), name
