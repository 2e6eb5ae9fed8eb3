"""Property tests against an independent, deliberately naive checker of the issue's rules.

The checker re-reads the product rules from the issue itself (not from the policy files) and recounts caps
from the raw history at a given instant. Properties: a hard stop blocks with exactly the hard stops; an
allowed contact breaks no rule for as long as it is valid; a deferred ``not_before`` is the earliest instant
at which every rule holds; a blocked-as-expired request had no such instant before it expired.
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
from services.gatekeeper.model import DecideInput
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


# --- the naive checker ----------------------------------------------------------------------------------


def naive_zones(inp: DecideInput, now: datetime) -> list[ZoneInfo]:
    """Candidate zones, the primary one first."""
    zones = [ZoneInfo(inp.debtor.timezone)] if inp.debtor.timezone else []
    for phone in inp.debtor.phones:
        try:
            number = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            continue
        names = [name for name in phone_timezone.time_zones_for_number(number) if name != "Etc/Unknown"]
        if len({now.astimezone(ZoneInfo(name)).utcoffset() for name in names}) <= 3:
            zones += [ZoneInfo(name) for name in names if ZoneInfo(name) not in zones]
    return zones


def packs(inp: DecideInput) -> set[str]:
    found = set(inp.debtor.jurisdictions)
    return found | {"US"} if "US-MA" in found else found


def naive_hard_stops(inp: DecideInput, now: datetime) -> set[ReasonCode]:
    debtor, channel = inp.debtor, inp.request.channel
    stops = {FLAG_CODES[flag] for flag in debtor.flags if flag in FLAG_CODES}
    if channel in debtor.opt_outs:
        stops.add(R.OPTED_OUT)
    if "US" in packs(inp) and channel in (Channel.SMS, Channel.VOICE) and channel not in debtor.consents:
        stops.add(R.NO_CONSENT)
    if not naive_zones(inp, now):
        stops.add(R.TIMEZONE_UNKNOWN)
    return stops


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
            for e in inp.history
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
# Days around DST changes in New York and London and China's Spring Festival and National Day.
SPECIAL_DAYS = [
    datetime(2026, 3, 7, tzinfo=UTC),
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2026, 10, 31, tzinfo=UTC),
    datetime(2026, 2, 12, tzinfo=UTC),
    datetime(2026, 9, 29, tzinfo=UTC),
]


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    base = draw(
        st.one_of(
            st.sampled_from(SPECIAL_DAYS),
            st.datetimes(min_value=datetime(2026, 1, 12), max_value=datetime(2026, 11, 25)).map(
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
# sampled_from draws uniformly, unlike integers, which favours its bounds.
ONE_IN_TEN = st.sampled_from([True] + [False] * 9)


@st.composite
def inputs(draw: st.DrawFn) -> DecideInput:
    now = draw(instants())
    accounts = st.sampled_from(["a1", "a2"])
    history = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "channel": st.sampled_from(CHANNELS),
                    "account_id": accounts,
                    "at": st.integers(0, 10 * 86400).map(lambda s: (now - timedelta(seconds=s)).isoformat()),
                    "outcome": st.sampled_from(OUTCOMES),
                }
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
    return DecideInput.model_validate(
        {
            "now": now.isoformat(),
            "debtor": {
                "debtor_id": "d1",
                "jurisdictions": draw(
                    st.lists(st.sampled_from(["US", "US-MA", "CN", "GB"]), unique=True, max_size=2)
                ),
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
                "request_id": "r1",
                "account_id": draw(accounts),
                "channel": draw(st.sampled_from(CHANNELS)),
                "kind": "reply" if draw(ONE_IN_TEN) else "outreach",
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


def check_against_naive_checker(inp: DecideInput, hours: bool) -> None:
    now = inp.now.replace(microsecond=0)
    decision = decide(inp, BOOK if hours else WITHOUT_HOURS)
    stops = naive_hard_stops(inp, now)
    if stops:
        assert (decision.decision, set(decision.reasons)) == (DecisionKind.BLOCK, stops)
        return
    if inp.request.kind is RequestKind.REPLY:
        assert (decision.decision, decision.reasons) == (DecisionKind.ALLOW, [])
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
        """No rule fails at any instant before ``valid_until``, and one fails at it unless it is a cap."""
        assert valid_until > self.now
        for moment in [*grid_after(self.now, valid_until), max(self.now, valid_until - timedelta(seconds=1))]:
            assert self.failures(moment) == set(), moment
        expires = self.inp.request.expires_at
        if valid_until < self.now + HORIZON and (expires is None or valid_until < expires):
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


def test_grid_covers_every_boundary_of_the_generated_inputs() -> None:
    # The "earlier instants fail" checks rely on every boundary but now and not_before being on the grid.
    for name in [zone for zone in ZONES if zone]:
        for day in (date(2026, 1, 15), date(2026, 7, 15)):
            offset = datetime.combine(day, time(12), tzinfo=ZoneInfo(name)).utcoffset()
            assert offset is not None and offset % GRID == timedelta(0), name
