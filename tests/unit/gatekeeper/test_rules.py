"""Each rule function on its own: zones, windows, working days, caps, cooldowns, hard stops, revocation
groups, reachability, forbearance and the escalation table."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from schemas.events import EscalationKind
from schemas.vocab import Channel, OutcomeStatus, ReasonCode
from services.gatekeeper import rules
from services.gatekeeper.model import DebtorView, HistoryEntry, LocalWindow
from services.gatekeeper.policy import (
    Cap,
    Cooldown,
    Forbearance,
    Period,
    Revocation,
    Scope,
    Unreachable,
    Window,
)
from tests.unit.gatekeeper.builders import LA, LONDON, NY

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)
R = ReasonCode


# --- zones ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "zones"),
    [
        ("+12125550100", (NY,)),
        ("+13105550100", (LA,)),
        ("+442071234567", (LONDON,)),
        ("+18005550100", ()),  # toll-free: dozens of zones, far more than 3 offsets
        ("12125550100", ()),  # no country code: does not parse
        ("call me", ()),
        ("", ()),
    ],
)
def test_phone_zones(phone: str, zones: tuple[object, ...]) -> None:
    assert rules.phone_zones(phone, NOW) == zones


def test_zone_intersection_candidates_and_primary() -> None:
    zones = rules.contact_zones("America/Los_Angeles", ["+12125550100", "+16175550100"], NOW)
    assert zones == rules.ContactZones((LA, NY), LA)


def test_primary_is_first_zone_of_first_phone_that_yields_one() -> None:
    zones = rules.contact_zones(None, ["+18005550100", "bad", "+442071234567", "+12125550100"], NOW)
    assert zones == rules.ContactZones((LONDON, NY), LONDON)


def test_no_zone_at_all() -> None:
    assert rules.contact_zones(None, ["+18005550100"], NOW) == rules.ContactZones((), None)


# --- windows --------------------------------------------------------------------------------------------

HOURS = Window(name="hours", start=time(8), end=time(21))


@pytest.mark.parametrize(
    ("local_times", "inside"),
    [
        ([time(8)], True),
        ([time(20, 59, 59)], True),
        ([time(21)], False),
        ([time(7, 59, 59)], False),
        ([time(12), time(20, 59, 59)], True),
        ([time(12), time(21, 0)], False),  # inside in one zone only
        ([time(7, 30), time(10, 30)], False),
    ],
)
def test_contact_window_is_half_open_in_every_zone(local_times: list[time], inside: bool) -> None:
    failure = rules.contact_window(local_times, HOURS, "BANK:hours")
    assert failure == (None if inside else rules.Failure(R.QUIET_HOURS, "BANK:hours"))


def test_local_window_wraps_past_midnight() -> None:
    night = LocalWindow(start=time(22), end=time(6))
    assert [
        night.contains(t) for t in (time(22), time(23, 59, 59), time(0), time(5, 59, 59), time(6), time(21))
    ] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_inconvenient_time() -> None:
    windows = [LocalWindow(start=time(12), end=time(13)), LocalWindow(start=time(18), end=time(19))]
    assert rules.inconvenient_time(time(12, 30), windows) == rules.Failure(
        R.QUIET_HOURS, "debtor:inconvenient"
    )
    assert rules.inconvenient_time(time(18), windows) is not None
    assert rules.inconvenient_time(time(13), windows) is None
    assert rules.inconvenient_time(time(12), []) is None


def test_not_before() -> None:
    assert rules.not_before(NOW, None) is None
    assert rules.not_before(NOW, NOW) is None
    assert rules.not_before(NOW, NOW + timedelta(seconds=1)) == rules.Failure(
        R.NOT_BEFORE, "request:not_before"
    )


# --- working days ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 28), True),  # Saturday, makeup working day for the Spring Festival
        (date(2026, 2, 14), True),  # Saturday, makeup working day
        (date(2026, 3, 7), False),  # ordinary Saturday
        (date(2026, 3, 8), False),  # Sunday
        (date(2026, 2, 18), False),  # Spring Festival, a Wednesday
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 3, 9), True),
    ],
)
def test_cn_working_day(day: date, working: bool) -> None:
    failure = rules.working_day(day, "CN", "CN:working_days")
    assert failure == (None if working else rules.Failure(R.NON_WORKING_DAY, "CN:working_days"))


# --- caps -----------------------------------------------------------------------------------------------

DAY = date(2026, 6, 10)


def _entry(channel: str, outcome: str, day: date, account_id: str = "a1") -> rules.DatedEntry:
    at = datetime.combine(day, time(12), tzinfo=UTC)
    return (
        HistoryEntry(channel=Channel(channel), account_id=account_id, at=at, outcome=OutcomeStatus(outcome)),
        day,
    )


def _cap(**overrides: object) -> Cap:
    fields: dict[str, object] = {
        "name": "cap",
        "channels": ["voice"],
        "outcomes": ["no_answer", "voicemail"],
        "period": "7_local_days",
        "scope": "account",
        "limit": 2,
    }
    return Cap.model_validate({**fields, **overrides})


def test_cap_counts_exactly_its_channels_outcomes_and_scope() -> None:
    dated = [
        _entry("voice", "no_answer", DAY),
        _entry("voice", "voicemail", DAY),
        _entry("voice", "busy", DAY),
        _entry("sms", "no_answer", DAY),
        _entry("voice", "no_answer", DAY, account_id="a2"),
        _entry("voice", "voicemail", DAY - timedelta(days=3)),
    ]
    assert rules.cap_counts(dated, _cap(), "a1") == {DAY: 2, DAY - timedelta(days=3): 1}
    assert rules.cap_counts(dated, _cap(scope="debtor"), "a1") == {DAY: 3, DAY - timedelta(days=3): 1}
    everything_but_failed = _cap(outcomes=None, outcomes_except=["failed"], channels=["voice", "sms"])
    assert rules.cap_counts([*dated, _entry("sms", "failed", DAY)], everything_but_failed, "a1") == {
        DAY: 4,
        DAY - timedelta(days=3): 1,
    }


def test_cap_applies_to_its_channels_unless_told() -> None:
    assert _cap().applies(Channel.VOICE) and not _cap().applies(Channel.SMS)
    widened = _cap(applies_to=["sms"])
    assert widened.applies(Channel.SMS) and not widened.applies(Channel.VOICE)


@pytest.mark.parametrize(
    ("counts", "period", "full"),
    [
        ({DAY: 1}, "local_day", False),
        ({DAY: 2}, "local_day", True),
        ({DAY - timedelta(days=1): 5}, "local_day", False),
        ({DAY - timedelta(days=6): 1, DAY: 1}, "7_local_days", True),
        ({DAY - timedelta(days=7): 1, DAY: 1}, "7_local_days", False),
        ({DAY + timedelta(days=1): 1, DAY: 1}, "7_local_days", False),
    ],
)
def test_frequency_cap_periods(counts: dict[date, int], period: str, full: bool) -> None:
    cap = _cap(period=period)
    assert cap.period is Period(period)
    failure = rules.frequency_cap(DAY, counts, cap, "US:cap")
    assert failure == (rules.Failure(R.FREQUENCY_CAP, "US:cap") if full else None)


# --- cooldown -------------------------------------------------------------------------------------------

COOLDOWN = Cooldown(
    name="talk",
    after_channels=frozenset({Channel.VOICE}),
    after_outcomes=frozenset({OutcomeStatus.CONVERSATION}),
    applies_to=frozenset({Channel.VOICE}),
    scope=Scope.ACCOUNT,
    local_days=7,
)


def test_cooldown_days_pick_triggers_of_the_account() -> None:
    dated = [
        _entry("voice", "conversation", DAY),
        _entry("sms", "conversation", DAY + timedelta(days=1)),
        _entry("voice", "conversation", DAY + timedelta(days=2), account_id="a2"),
        _entry("voice", "voicemail", DAY + timedelta(days=3)),
    ]
    assert rules.cooldown_days(dated, COOLDOWN, "a1") == frozenset({DAY})


@pytest.mark.parametrize(("offset", "blocked"), [(-1, False), (0, True), (3, True), (6, True), (7, False)])
def test_conversation_cooldown_spans_d_to_d_plus_six(offset: int, blocked: bool) -> None:
    failure = rules.conversation_cooldown(DAY + timedelta(days=offset), {DAY}, COOLDOWN, "US:talk")
    assert failure == (rules.Failure(R.CONVERSATION_COOLDOWN, "US:talk") if blocked else None)


# --- hard stops -----------------------------------------------------------------------------------------

ZONES = rules.ContactZones((NY,), NY)


def _debtor(**fields: object) -> DebtorView:
    return DebtorView.model_validate({"debtor_id": "d1", **fields})


def test_hard_stops_each_flag_once_unknown_ignored() -> None:
    debtor = _debtor(flags=["bankruptcy", "vip", "breathing_space"], consents=["voice"])
    assert [f.reason for f in rules.hard_stops(debtor, Channel.VOICE, [], ZONES)] == [
        R.BANKRUPTCY,
        R.BREATHING_SPACE,
    ]


def test_hard_stops_opt_out_consent_and_zone() -> None:
    debtor = _debtor(opt_outs=["sms"], consents=["voice"])
    consent = [("US", frozenset({Channel.SMS, Channel.VOICE})), ("GB", frozenset[Channel]())]
    assert rules.hard_stops(debtor, Channel.SMS, consent, rules.ContactZones((), None)) == [
        rules.Failure(R.OPTED_OUT, "debtor:opt_out:sms"),
        rules.Failure(R.NO_CONSENT, "US:consent_required"),
        rules.Failure(R.TIMEZONE_UNKNOWN, "debtor:no_time_zone"),
    ]
    assert rules.hard_stops(debtor, Channel.VOICE, consent, ZONES) == []
    assert rules.hard_stops(debtor, Channel.EMAIL, consent, ZONES) == []


# --- zones of the destination, revocation groups, third parties, escalations -----------------------------


def test_the_destination_adds_candidate_zones_but_never_the_primary() -> None:
    assert rules.contact_zones("America/New_York", [], NOW, "+13105550100") == rules.ContactZones(
        (NY, LA), NY
    )
    assert rules.contact_zones(None, [], NOW, "+13105550100") == rules.ContactZones((), None)
    assert rules.contact_zones("America/New_York", [], NOW, "x@example.com") == rules.ContactZones((NY,), NY)


REVOKE_ALL = Revocation(name="revoke_all", channels=frozenset({Channel.SMS, Channel.VOICE}))


@pytest.mark.parametrize(
    ("channel", "opt_outs", "revoked"),
    [
        (Channel.SMS, [Channel.VOICE], True),
        (Channel.VOICE, [Channel.SMS], True),
        (Channel.SMS, [Channel.SMS], False),  # the channel's own opt-out is the hard stop already
        (Channel.EMAIL, [Channel.SMS, Channel.VOICE], False),
        (Channel.SMS, [Channel.EMAIL], False),
    ],
)
def test_revocation_groups(channel: Channel, opt_outs: list[Channel], revoked: bool) -> None:
    failures = rules.revoked(channel, opt_outs, [("US:revoke_all", REVOKE_ALL)])
    assert failures == ([rules.Failure(R.OPTED_OUT, "US:revoke_all")] if revoked else [])


UNREACHABLE = Unreachable(
    failed_calls=3,
    failed_outcomes=frozenset({OutcomeStatus.NO_ANSWER, OutcomeStatus.BUSY}),
    reached_outcomes=frozenset({OutcomeStatus.CONVERSATION}),
    reached_within_hours=72,
)


def _call(hours_ago: float, outcome: str, channel: str = "voice", relation: str = "self") -> HistoryEntry:
    at = NOW - timedelta(hours=hours_ago)
    return HistoryEntry.model_validate(
        {"channel": channel, "account_id": "a1", "at": at, "outcome": outcome, "relation": relation}
    )


def test_unreachable_after_three_failed_calls_and_no_conversation() -> None:
    three = [_call(1, "no_answer"), _call(2, "busy"), _call(3, "no_answer")]
    assert rules.unreachable(three, UNREACHABLE, NOW)
    assert not rules.unreachable(three[:2], UNREACHABLE, NOW)
    assert not rules.unreachable([*three, _call(72, "conversation", "sms")], UNREACHABLE, NOW)
    assert rules.unreachable([*three, _call(72.01, "conversation", "sms")], UNREACHABLE, NOW)
    assert rules.unreachable([*three, _call(1, "conversation", relation="guarantor")], UNREACHABLE, NOW)
    tie = [_call(1, "no_answer"), _call(2, "busy"), _call(3, "no_answer"), _call(3, "voicemail")]
    assert not rules.unreachable(tie, UNREACHABLE, NOW)


FORBEARANCE = Forbearance(
    name="f",
    before=frozenset({EscalationKind.LEGAL}),
    forbearance_notice_days=14,
    offer_outcomes=frozenset({OutcomeStatus.DELIVERED}),
)


def test_forbearance_ready() -> None:
    fourteen = timedelta(days=14)
    assert rules.forbearance_ready([NOW - fourteen], FORBEARANCE, NOW) == NOW
    young = [NOW - timedelta(days=3), NOW - timedelta(days=5)]
    assert rules.forbearance_ready(young, FORBEARANCE, NOW) == NOW - timedelta(days=5) + fourteen
    assert rules.forbearance_ready([*young, NOW - timedelta(days=20)], FORBEARANCE, NOW) == NOW


def test_escalation_stops_table() -> None:
    debtor = _debtor(flags=["cease_communication", "deceased", "dispute"])
    legal = rules.escalation_stops(debtor, EscalationKind.LEGAL)
    assert [f.reason for f in legal] == [R.DISPUTE]
    visit = rules.escalation_stops(debtor, EscalationKind.FIELD_VISIT)
    assert [f.reason for f in visit] == [R.CEASE_COMMUNICATION, R.DECEASED, R.DISPUTE]
    assert rules.escalation_stops(debtor, EscalationKind.RESTRUCTURING_OFFER) == []
