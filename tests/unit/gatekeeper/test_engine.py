"""``decide`` under the real policy packs: hard stops, replies, hours, zones, DST, caps, cooldown, expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import holidays
import pytest

from schemas.vocab import DebtorFlag, DecisionKind, OutcomeStatus, ReasonCode
from services.gatekeeper.engine import decide
from services.gatekeeper.model import Decision
from services.gatekeeper.policy import UnknownJurisdictionError
from tests.unit.gatekeeper.builders import (
    BOOK,
    LA,
    LONDON,
    NY,
    SHANGHAI,
    book_in,
    book_of,
    entry,
    local,
    make_input,
    utc,
    write_pack,
)

R = ReasonCode
ALLOW, DEFER, BLOCK = DecisionKind.ALLOW, DecisionKind.DEFER, DecisionKind.BLOCK


# --- the contract's examples -------------------------------------------------------------------------------


def test_issue_example_not_before_and_quiet_hours() -> None:
    inp = make_input(local(NY, "2026-06-10 06:00"), not_before=local(NY, "2026-06-10 07:00"))
    decision = decide(inp, BOOK)
    assert decision.decision is DEFER
    assert decision.not_before == local(NY, "2026-06-10 08:00")
    assert set(decision.reasons) == {R.NOT_BEFORE, R.QUIET_HOURS}
    assert decision.valid_until is None


def test_issue_example_inconvenient_window_in_massachusetts() -> None:
    inp = make_input(
        utc("2026-06-10 11:30"),
        jurisdictions=["US", "US-MA"],
        phones=["+16175550100"],
        consents=["sms", "voice"],
        inconvenient=[("12:00", "13:00")],
        history=[entry("voice", utc("2026-06-09 15:00"), "no_answer")],
    )
    decision = decide(inp, BOOK)
    assert (decision.decision, decision.not_before, decision.reasons) == (
        DEFER,
        utc("2026-06-10 12:00"),
        [R.QUIET_HOURS],
    )
    assert decision.pack_versions == {"BANK": "2026.1", "US": "2026.1", "US-MA": "2026.1"}


# --- hard stops -----------------------------------------------------------------------------------------

FLAG_CODES = {
    "attorney": R.ATTORNEY,
    "cease_communication": R.CEASE_COMMUNICATION,
    "deceased": R.DECEASED,
    "bankruptcy": R.BANKRUPTCY,
    "dispute": R.DISPUTE,
    "breathing_space": R.BREATHING_SPACE,
}


def test_every_debtor_flag_has_its_code() -> None:
    assert set(FLAG_CODES) == {flag.value for flag in DebtorFlag}


@pytest.mark.parametrize("jurisdictions", [[], ["US"], ["US-MA"], ["CN"], ["GB"]])
@pytest.mark.parametrize(("flag", "code"), FLAG_CODES.items())
def test_flag_blocks_under_every_pack(jurisdictions: list[str], flag: str, code: ReasonCode) -> None:
    # 23:00 local and already expired: the block must still name the hard stop only.
    now = local(NY, "2026-06-10 23:00")
    inp = make_input(
        now, jurisdictions=jurisdictions, flags=[flag, "vip"], expires_at=now - timedelta(hours=1)
    )
    decision = decide(inp, BOOK)
    assert (decision.decision, decision.reasons, decision.not_before) == (BLOCK, [code], None)


def test_all_hard_stops_together_and_nothing_else() -> None:
    inp = make_input(
        local(NY, "2026-06-10 23:00"),
        channel="sms",
        jurisdictions=["US"],
        timezone=None,
        phones=["+18005550100"],
        consents=["voice"],
        opt_outs=["sms"],
        flags=["attorney", "dispute"],
    )
    decision = decide(inp, BOOK)
    assert decision.decision is BLOCK
    assert set(decision.reasons) == {R.ATTORNEY, R.DISPUTE, R.OPTED_OUT, R.NO_CONSENT, R.TIMEZONE_UNKNOWN}
    assert len(decision.reasons) == len(set(decision.reasons))


def test_unknown_flags_are_ignored() -> None:
    decision = decide(make_input(local(NY, "2026-06-10 10:00"), flags=["vip", "ATTORNEY"]), BOOK)
    assert decision.decision is ALLOW


@pytest.mark.parametrize("channel", ["sms", "email", "voice"])
def test_opt_out_blocks_that_channel_only(channel: str) -> None:
    now = local(NY, "2026-06-10 10:00")
    assert decide(make_input(now, channel=channel, opt_outs=[channel]), BOOK).reasons == [R.OPTED_OUT]
    others = [other for other in ("sms", "email", "voice") if other != channel]
    assert decide(make_input(now, channel=channel, opt_outs=others), BOOK).decision is ALLOW


@pytest.mark.parametrize(
    ("jurisdictions", "channel", "blocked"),
    [
        (["US"], "sms", True),
        (["US"], "voice", True),
        (["US"], "email", False),
        (["US-MA"], "voice", True),
        (["CN"], "voice", False),
        (["GB"], "sms", False),
        ([], "voice", False),
    ],
)
def test_no_consent_only_for_us_sms_and_voice(jurisdictions: list[str], channel: str, blocked: bool) -> None:
    now = local(NY, "2026-06-10 10:00") if "CN" not in jurisdictions else local(SHANGHAI, "2026-06-10 10:00")
    tz = "Asia/Shanghai" if "CN" in jurisdictions else "America/New_York"
    decision = decide(
        make_input(now, channel=channel, jurisdictions=jurisdictions, timezone=tz, consents=[]), BOOK
    )
    if blocked:
        assert (decision.decision, decision.reasons) == (BLOCK, [R.NO_CONSENT])
    else:
        assert decision.decision is ALLOW


def test_consent_for_the_channel_lets_it_through() -> None:
    inp = make_input(local(NY, "2026-06-10 10:00"), channel="sms", jurisdictions=["US"], consents=["sms"])
    assert decide(inp, BOOK).decision is ALLOW


@pytest.mark.parametrize(
    "phones",
    [[], ["+18005550100"], ["12125550100"], ["not a phone"], ["+18005550100", "garbage"]],
    ids=["none", "toll-free", "no-plus", "garbage", "both"],
)
def test_timezone_unknown_without_any_candidate_zone(phones: list[str]) -> None:
    decision = decide(make_input(local(NY, "2026-06-10 10:00"), timezone=None, phones=phones), BOOK)
    assert (decision.decision, decision.reasons) == (BLOCK, [R.TIMEZONE_UNKNOWN])


def test_hard_stop_blocks_a_reply_too() -> None:
    inp = make_input(local(NY, "2026-06-10 10:00"), kind="reply", flags=["deceased"])
    assert decide(inp, BOOK).reasons == [R.DECEASED]


def test_unknown_jurisdiction_is_an_error() -> None:
    with pytest.raises(UnknownJurisdictionError, match="'XX'"):
        decide(make_input(local(NY, "2026-06-10 10:00"), jurisdictions=["US", "XX"]), BOOK)


# --- replies --------------------------------------------------------------------------------------------


def test_reply_passes_quiet_hours_and_caps() -> None:
    now = local(NY, "2026-06-10 23:30")
    history = [entry("sms", now - timedelta(hours=1), "delivered")]
    inp = make_input(now, channel="sms", kind="reply", jurisdictions=["US-MA"], history=history)
    decision = decide(inp, BOOK)
    assert (decision.decision, decision.reasons, decision.not_before) == (ALLOW, [], None)
    assert decision.valid_until == now + timedelta(hours=1)


def test_reply_validity_is_capped_by_expiry() -> None:
    now = local(NY, "2026-06-10 23:30")
    inp = make_input(now, channel="sms", kind="reply", expires_at=now + timedelta(minutes=10))
    assert decide(inp, BOOK).valid_until == now + timedelta(minutes=10)


# --- contact hours, zones, DST --------------------------------------------------------------------------


def test_windows_are_half_open() -> None:
    assert decide(make_input(local(NY, "2026-06-10 20:59:59")), BOOK).decision is ALLOW
    at_nine = decide(make_input(local(NY, "2026-06-10 21:00:00")), BOOK)
    assert (at_nine.decision, at_nine.not_before, at_nine.reasons) == (
        DEFER,
        local(NY, "2026-06-11 08:00"),
        [R.QUIET_HOURS],
    )
    assert decide(make_input(local(NY, "2026-06-10 08:00:00")), BOOK).decision is ALLOW
    early = decide(make_input(local(NY, "2026-06-10 07:59:59")), BOOK)
    assert early.not_before == local(NY, "2026-06-10 08:00:00")


def test_fractional_seconds_of_now_are_dropped() -> None:
    decision = decide(make_input(local(NY, "2026-06-10 20:59:59.999")), BOOK)
    assert decision.decision is ALLOW
    assert decision.valid_until == local(NY, "2026-06-10 21:00")


def test_new_york_phone_and_los_angeles_zone_intersect() -> None:
    def at(text: str) -> Decision:
        return decide(
            make_input(local(NY, text), timezone="America/Los_Angeles", phones=["+12125550100"]), BOOK
        )

    morning = at("2026-06-10 09:00")  # 06:00 in Los Angeles
    assert (morning.decision, morning.not_before) == (DEFER, local(LA, "2026-06-10 08:00"))
    assert morning.not_before == local(NY, "2026-06-10 11:00")
    evening = at("2026-06-10 20:30")  # 17:30 in Los Angeles, allowed until 21:00 in New York
    assert (evening.decision, evening.valid_until) == (ALLOW, local(NY, "2026-06-10 21:00"))
    late = at("2026-06-10 21:30")
    assert (late.decision, late.not_before) == (DEFER, local(LA, "2026-06-11 08:00"))


def test_primary_zone_is_the_first_phone_that_yields_one() -> None:
    now = local(LA, "2026-06-10 23:30")  # 02:30 next day in New York
    history = [entry("email", local(LA, "2026-06-10 09:00"), "delivered")]
    inp = make_input(
        now,
        channel="email",
        timezone=None,
        phones=["+18005550100", "+13105550100", "+12125550100"],
        history=history,
    )
    decision = decide(inp, BOOK)
    assert decision.not_before == local(LA, "2026-06-11 08:00")
    # Days are counted in Los Angeles, where it is still the day of the email (in New York it is the next).
    assert set(decision.reasons) == {R.QUIET_HOURS, R.FREQUENCY_CAP}


def test_spring_forward_in_new_york() -> None:
    decision = decide(make_input(local(NY, "2026-03-07 22:00")), BOOK)
    assert decision.not_before == utc(
        "2026-03-08 12:00"
    )  # 08:00 EDT, one hour earlier in UTC than the day before
    allowed = decide(make_input(utc("2026-03-08 12:00")), BOOK)
    assert (allowed.decision, allowed.valid_until) == (ALLOW, utc("2026-03-09 01:00"))


def test_fall_back_in_new_york() -> None:
    decision = decide(make_input(local(NY, "2026-10-31 22:00")), BOOK)
    assert decision.not_before == utc("2026-11-01 13:00")  # 08:00 EST
    assert decide(make_input(utc("2026-11-01 12:59:59")), BOOK).decision is DEFER


NO_HOURS_PACK = """
pack = "OPEN"
applies_to_all = true
[[versions]]
version = "1"
effective_from = 2026-01-01
"""


def test_window_start_in_the_spring_forward_gap(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "early",
        """
pack = "EARLY"
applies_to_all = true
[[versions]]
version = "1"
effective_from = 2026-01-01
[[versions.windows]]
name = "from_half_past_two"
start = 02:30:00
end = 21:00:00
""",
    )
    book = book_in(tmp_path)
    # 02:30 does not exist on 2026-03-08 in New York: the window opens when the clock jumps to 03:00 EDT.
    decision = decide(make_input(local(NY, "2026-03-08 01:00")), book)
    assert decision.not_before == utc("2026-03-08 07:00")
    assert decide(make_input(utc("2026-03-08 06:59:59")), book).decision is DEFER


def test_inconvenient_window_in_the_repeated_hour(tmp_path: Path) -> None:
    write_pack(tmp_path, "open", NO_HOURS_PACK)
    book = book_in(tmp_path)

    def at(moment: str) -> Decision:
        return decide(make_input(utc(moment), inconvenient=[("01:00", "01:30")]), book)

    first = at("2026-11-01 05:10")  # 01:10 EDT
    assert (first.decision, first.not_before) == (DEFER, utc("2026-11-01 05:30"))
    between = at("2026-11-01 05:45")  # 01:45 EDT; at 06:00 UTC the clock goes back to 01:00 EST
    assert (between.decision, between.valid_until) == (ALLOW, utc("2026-11-01 06:00"))
    second = at("2026-11-01 06:10")  # 01:10 EST
    assert (second.decision, second.not_before) == (DEFER, utc("2026-11-01 06:30"))


def test_inconvenient_windows() -> None:
    def at(moment: str, windows: list[tuple[str, str]]) -> Decision:
        return decide(make_input(local(NY, moment), inconvenient=windows), BOOK)

    inside = at("2026-06-10 12:15", [("12:00", "13:00")])
    assert (inside.decision, inside.not_before, inside.reasons) == (
        DEFER,
        local(NY, "2026-06-10 13:00"),
        [R.QUIET_HOURS],
    )
    before = at("2026-06-10 10:00", [("12:00", "13:00")])
    assert (before.decision, before.valid_until) == (ALLOW, local(NY, "2026-06-10 12:00"))
    # A window across midnight: only 09:30 to 19:00 is left of the day.
    night = at("2026-06-10 08:30", [("19:00", "09:30")])
    assert night.not_before == local(NY, "2026-06-10 09:30")
    assert at("2026-06-10 18:00", [("19:00", "09:30")]).valid_until == local(NY, "2026-06-10 19:00")


def test_inconvenient_windows_use_the_primary_zone() -> None:
    inp = make_input(
        local(LA, "2026-06-10 12:15"),
        timezone="America/Los_Angeles",
        phones=["+12125550100"],
        inconvenient=[("12:00", "13:00")],
    )
    assert decide(inp, BOOK).not_before == local(LA, "2026-06-10 13:00")


# --- not_before and expiry ------------------------------------------------------------------------------


def test_not_before_alone() -> None:
    decision = decide(
        make_input(local(NY, "2026-06-10 10:00"), not_before=local(NY, "2026-06-10 10:30")), BOOK
    )
    assert (decision.decision, decision.not_before, decision.reasons) == (
        DEFER,
        local(NY, "2026-06-10 10:30"),
        [R.NOT_BEFORE],
    )


def test_fractional_not_before_rounds_up_to_the_second() -> None:
    nb = local(NY, "2026-06-10 10:30:00.250")
    assert decide(make_input(local(NY, "2026-06-10 10:00"), not_before=nb), BOOK).not_before == local(
        NY, "2026-06-10 10:30:01"
    )


def test_not_before_in_the_past_is_no_reason() -> None:
    decision = decide(
        make_input(local(NY, "2026-06-10 10:00"), not_before=local(NY, "2026-06-09 10:00")), BOOK
    )
    assert decision.decision is ALLOW


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1), timedelta(days=-2)])
def test_expired_request_is_blocked_with_reasons_at_now(delta: timedelta) -> None:
    now = local(NY, "2026-06-10 22:00")
    decision = decide(make_input(now, expires_at=now + delta), BOOK)
    assert (decision.decision, set(decision.reasons)) == (BLOCK, {R.EXPIRED, R.QUIET_HOURS})
    in_hours = decide(
        make_input(local(NY, "2026-06-10 10:00"), expires_at=local(NY, "2026-06-10 10:00")), BOOK
    )
    assert in_hours.reasons == [R.EXPIRED]


def test_expiry_before_the_next_allowed_instant_blocks() -> None:
    now = local(NY, "2026-06-10 22:00")
    at_eight = decide(make_input(now, expires_at=local(NY, "2026-06-11 08:00")), BOOK)
    assert (at_eight.decision, set(at_eight.reasons)) == (BLOCK, {R.EXPIRED, R.QUIET_HOURS})
    just_after = decide(make_input(now, expires_at=local(NY, "2026-06-11 08:00:01")), BOOK)
    assert (just_after.decision, just_after.not_before) == (DEFER, local(NY, "2026-06-11 08:00"))


def test_nothing_within_thirty_days_blocks() -> None:
    now = local(NY, "2026-06-10 10:00")
    far = decide(make_input(now, not_before=now + timedelta(days=30, seconds=1)), BOOK)
    assert (far.decision, set(far.reasons)) == (BLOCK, {R.EXPIRED, R.NOT_BEFORE})
    edge = decide(make_input(now, not_before=now + timedelta(days=30)), BOOK)
    assert (edge.decision, edge.not_before) == (DEFER, now + timedelta(days=30))


def test_allow_is_valid_until_the_window_closes_capped_by_expiry(tmp_path: Path) -> None:
    now = local(NY, "2026-06-10 10:00")
    assert decide(make_input(now), BOOK).valid_until == local(NY, "2026-06-10 21:00")
    assert decide(make_input(now, expires_at=local(NY, "2026-06-10 11:00")), BOOK).valid_until == local(
        NY, "2026-06-10 11:00"
    )
    write_pack(tmp_path, "open", NO_HOURS_PACK)
    assert decide(make_input(now), book_in(tmp_path)).valid_until == now + timedelta(days=30)


# --- BANK caps ------------------------------------------------------------------------------------------

NOT_FAILED = [outcome.value for outcome in OutcomeStatus if outcome is not OutcomeStatus.FAILED]


@pytest.mark.parametrize("channel", ["sms", "email"])
@pytest.mark.parametrize("outcome", [*NOT_FAILED, "failed"])
def test_bank_one_sms_and_one_email_per_local_day(channel: str, outcome: str) -> None:
    now = local(NY, "2026-06-10 15:00")
    history = [entry(channel, local(NY, "2026-06-10 00:10"), outcome, account_id="other")]
    decision = decide(make_input(now, channel=channel, history=history), BOOK)
    if outcome == "failed":
        assert decision.decision is ALLOW
    else:
        assert (decision.decision, decision.not_before, decision.reasons) == (
            DEFER,
            local(NY, "2026-06-11 08:00"),
            [R.FREQUENCY_CAP],
        )
        assert decision.rules == [f"BANK:{channel}_per_day"]


def test_bank_sms_cap_counts_local_days_not_24_hours() -> None:
    # 20:50 the evening before is another local day, though less than 24 hours ago.
    history = [entry("sms", local(NY, "2026-06-09 20:50"), "delivered")]
    assert (
        decide(make_input(local(NY, "2026-06-10 08:00"), channel="sms", history=history), BOOK).decision
        is ALLOW
    )


def test_bank_three_sms_per_seven_local_days() -> None:
    history = [entry("sms", local(NY, f"2026-06-{day:02d} 10:00"), "sent") for day in (4, 6, 8)]
    decision = decide(make_input(local(NY, "2026-06-10 10:00"), channel="sms", history=history), BOOK)
    # On 06-11 the 06-04 message leaves the 7 local days.
    assert (decision.decision, decision.not_before, decision.rules) == (
        DEFER,
        local(NY, "2026-06-11 08:00"),
        ["BANK:sms_per_7_days"],
    )
    two_failed = [*history[:1], *(dict(h, outcome="failed") for h in history[1:])]
    assert (
        decide(make_input(local(NY, "2026-06-10 10:00"), channel="sms", history=two_failed), BOOK).decision
        is ALLOW
    )


def test_bank_three_voice_attempts_per_local_day() -> None:
    now = local(NY, "2026-06-10 15:00")
    outcomes = ["not_connected", "busy", "approved"]
    history = [entry("voice", now - timedelta(hours=i + 1), outcome) for i, outcome in enumerate(outcomes)]
    decision = decide(make_input(now, history=history), BOOK)
    assert (decision.decision, decision.not_before, decision.rules) == (
        DEFER,
        local(NY, "2026-06-11 08:00"),
        ["BANK:voice_attempts_per_day"],
    )
    history[0] = entry("voice", now - timedelta(hours=1), "failed")
    assert decide(make_input(now, history=history), BOOK).decision is ALLOW


def test_caps_of_other_channels_do_not_interfere() -> None:
    now = local(NY, "2026-06-10 15:00")
    history = [entry("sms", now - timedelta(hours=1), "delivered"), entry("email", now, "delivered")]
    assert decide(make_input(now, channel="voice", history=history), BOOK).decision is ALLOW


# --- US -------------------------------------------------------------------------------------------------

PLACED = ["no_answer", "voicemail", "conversation", "approved"]
NOT_PLACED = ["busy", "not_connected", "sent", "delivered", "failed"]
US_CAP = "US:voice_placed_calls_per_7_days"


def _calls(outcomes: list[str], account_id: str = "a1") -> list[dict[str, object]]:
    # One call a day from 06-04 on, at 09:00, so that the BANK daily cap is never full.
    return [
        entry("voice", local(NY, f"2026-06-{4 + i:02d} 09:00"), outcome, account_id)
        for i, outcome in enumerate(outcomes)
    ]


def _us_voice(history: list[dict[str, object]], account_id: str = "a1") -> Decision:
    inp = make_input(
        local(NY, "2026-06-10 10:00"), jurisdictions=["US"], history=history, account_id=account_id
    )
    return decide(inp, BOOK)


def test_us_eighth_placed_call_in_seven_days_is_deferred() -> None:
    six = _calls(["no_answer", "voicemail", "approved"] * 2)  # 06-04 .. 06-09
    assert _us_voice(six).decision is ALLOW
    seven = _calls(["no_answer", "voicemail", "approved"] * 2 + ["no_answer"])  # 06-04 .. 06-10
    decision = _us_voice(seven)
    # The 8th call waits until the 06-04 call leaves the 7 local days.
    assert (decision.decision, decision.not_before, decision.reasons, decision.rules) == (
        DEFER,
        local(NY, "2026-06-11 08:00"),
        [R.FREQUENCY_CAP],
        [US_CAP],
    )


def test_us_calls_seven_local_days_back_do_not_count() -> None:
    history = [entry("voice", local(NY, "2026-06-03 23:59:59"), "no_answer"), *_calls(["no_answer"] * 6)]
    assert _us_voice(history).decision is ALLOW


@pytest.mark.parametrize("outcome", NOT_PLACED)
def test_us_calls_that_were_not_placed_do_not_count(outcome: str) -> None:
    assert _us_voice(_calls([outcome] * 7)).decision is ALLOW


@pytest.mark.parametrize("outcome", PLACED)
def test_us_each_placed_outcome_counts(outcome: str) -> None:
    decision = _us_voice(_calls([outcome] * 7))
    assert decision.decision is DEFER
    assert US_CAP in decision.rules


def test_us_placed_calls_count_per_account() -> None:
    history = _calls(["no_answer"] * 7, account_id="a2")
    assert _us_voice(history).decision is ALLOW
    assert _us_voice(history, account_id="a2").rules == [US_CAP]


def test_us_cap_does_not_apply_to_sms_or_email() -> None:
    history = _calls(["no_answer"] * 7)
    for channel in ("sms", "email"):
        inp = make_input(
            local(NY, "2026-06-10 10:00"), channel=channel, jurisdictions=["US"], history=history
        )
        assert decide(inp, BOOK).decision is ALLOW


def test_us_conversation_cooldown_covers_days_d_to_d_plus_six() -> None:
    history = [entry("voice", local(NY, "2026-06-10 08:30"), "conversation")]
    for day in range(10, 17):
        decision = decide(
            make_input(local(NY, f"2026-06-{day} 10:00"), jurisdictions=["US"], history=history), BOOK
        )
        assert (decision.decision, decision.not_before, decision.reasons) == (
            DEFER,
            local(NY, "2026-06-17 08:00"),
            [R.CONVERSATION_COOLDOWN],
        ), day
    later = decide(make_input(local(NY, "2026-06-17 08:00"), jurisdictions=["US"], history=history), BOOK)
    assert later.decision is ALLOW


def test_us_cooldown_is_voice_to_voice_on_the_same_account() -> None:
    now = local(NY, "2026-06-12 10:00")
    sms_talk = [entry("sms", local(NY, "2026-06-10 10:00"), "conversation")]
    assert decide(make_input(now, jurisdictions=["US"], history=sms_talk), BOOK).decision is ALLOW
    other_account = [entry("voice", local(NY, "2026-06-10 10:00"), "conversation", account_id="a2")]
    assert decide(make_input(now, jurisdictions=["US"], history=other_account), BOOK).decision is ALLOW
    voice_talk = [entry("voice", local(NY, "2026-06-10 10:00"), "conversation")]
    for channel in ("sms", "email"):
        inp = make_input(now, channel=channel, jurisdictions=["US"], history=voice_talk)
        assert decide(inp, BOOK).decision is ALLOW


# --- US-MA ----------------------------------------------------------------------------------------------

INITIATED = ["approved", "sent", "delivered", "no_answer", "voicemail", "conversation"]


@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_massachusetts_two_initiated_per_seven_days_across_sms_and_voice(channel: str) -> None:
    history = [
        entry("sms", local(NY, "2026-06-04 10:00"), "delivered"),
        entry("voice", local(NY, "2026-06-08 10:00"), "no_answer"),
    ]
    decision = decide(
        make_input(local(NY, "2026-06-10 10:00"), channel=channel, jurisdictions=["US-MA"], history=history),
        BOOK,
    )
    assert (decision.decision, decision.not_before, decision.rules) == (
        DEFER,
        local(NY, "2026-06-11 08:00"),
        ["US-MA:initiated_calls_and_texts_per_7_days"],
    )
    email = make_input(
        local(NY, "2026-06-10 10:00"), channel="email", jurisdictions=["US-MA"], history=history
    )
    assert decide(email, BOOK).decision is ALLOW


@pytest.mark.parametrize("outcome", [o.value for o in OutcomeStatus])
def test_massachusetts_counts_exactly_the_initiated_outcomes(outcome: str) -> None:
    history = [
        entry("sms", local(NY, "2026-06-05 10:00"), outcome),
        entry("sms", local(NY, "2026-06-07 10:00"), outcome),
    ]
    decision = decide(
        make_input(local(NY, "2026-06-10 10:00"), channel="voice", jurisdictions=["US-MA"], history=history),
        BOOK,
    )
    assert (decision.decision is DEFER) == (outcome in INITIATED)


def test_massachusetts_counts_per_account_and_brings_us() -> None:
    history = [entry("voice", local(NY, f"2026-06-0{day} 10:00"), "voicemail", "a2") for day in (7, 8)]
    decision = decide(
        make_input(local(NY, "2026-06-10 10:00"), jurisdictions=["US-MA"], history=history), BOOK
    )
    assert decision.decision is ALLOW
    assert decision.pack_versions == {"BANK": "2026.1", "US-MA": "2026.1", "US": "2026.1"}
    talk = [entry("voice", local(NY, "2026-06-09 10:00"), "conversation")]
    cooled = decide(make_input(local(NY, "2026-06-10 10:00"), jurisdictions=["US-MA"], history=talk), BOOK)
    assert cooled.reasons == [R.CONVERSATION_COOLDOWN]


# --- CN -------------------------------------------------------------------------------------------------


def test_makeup_working_day_2026_02_28_is_a_working_saturday() -> None:
    day = local(SHANGHAI, "2026-02-28 10:00").date()
    assert day.weekday() == 5
    assert holidays.CN().is_working_day(day)
    decision = decide(
        make_input(local(SHANGHAI, "2026-02-28 10:00"), jurisdictions=["CN"], timezone="Asia/Shanghai"), BOOK
    )
    assert decision.decision is ALLOW
    assert decision.valid_until == local(SHANGHAI, "2026-02-28 21:00")


def test_cn_ordinary_weekend_is_off() -> None:
    decision = decide(
        make_input(local(SHANGHAI, "2026-03-07 10:00"), jurisdictions=["CN"], timezone="Asia/Shanghai"), BOOK
    )
    assert (decision.decision, decision.not_before, decision.reasons) == (
        DEFER,
        local(SHANGHAI, "2026-03-09 08:00"),
        [R.NON_WORKING_DAY],
    )


def test_cn_spring_festival_is_skipped_and_makeup_saturday_used() -> None:
    def at(moment: str) -> Decision:
        return decide(
            make_input(local(SHANGHAI, moment), jurisdictions=["CN"], timezone="Asia/Shanghai"), BOOK
        )

    friday = at("2026-02-13 21:30")
    assert (friday.not_before, friday.reasons) == (local(SHANGHAI, "2026-02-14 08:00"), [R.QUIET_HOURS])
    saturday = at("2026-02-14 21:30")  # 15th to 23rd are off: Sunday, the festival and its substitute days
    assert saturday.not_before == local(SHANGHAI, "2026-02-24 08:00")
    holiday = at("2026-02-18 10:00")
    assert (holiday.not_before, holiday.reasons) == (local(SHANGHAI, "2026-02-24 08:00"), [R.NON_WORKING_DAY])


def test_cn_working_days_use_the_primary_zone() -> None:
    # Monday 09:00 in New York is Monday 21:00 in Shanghai, but the calendar is New York's (the primary zone).
    inp = make_input(local(NY, "2026-06-08 09:00"), jurisdictions=["CN"], timezone="America/New_York")
    assert decide(inp, BOOK).decision is ALLOW
    weekend = make_input(local(NY, "2026-06-06 09:00"), jurisdictions=["CN"], timezone="America/New_York")
    assert decide(weekend, BOOK).not_before == local(NY, "2026-06-08 08:00")


CN_ONLY = book_of("cn")


@pytest.mark.parametrize(
    ("outcomes", "full"),
    [
        (["no_answer"] * 5, False),
        (["no_answer", "busy", "voicemail"] * 2, True),
        (["no_answer"] * 5 + ["not_connected", "failed", "approved", "sent"], False),
        (["conversation"] * 2, False),
        (["conversation"] * 3, True),
        (["conversation", "conversation", "no_answer"] * 2, True),
    ],
)
def test_cn_voice_limits_per_local_day(outcomes: list[str], full: bool) -> None:
    now = local(SHANGHAI, "2026-06-10 15:00")
    history = [
        entry("voice", now - timedelta(minutes=10 * (i + 1)), o, f"a{i}") for i, o in enumerate(outcomes)
    ]
    history.append(entry("sms", now - timedelta(minutes=1), "conversation"))
    decision = decide(
        make_input(now, jurisdictions=["CN"], timezone="Asia/Shanghai", history=history), CN_ONLY
    )
    if full:
        assert (decision.decision, decision.reasons, decision.not_before) == (
            DEFER,
            [R.FREQUENCY_CAP],
            local(SHANGHAI, "2026-06-11 00:00"),
        )
    else:
        # Same history, so the counts stay below the limits; the Saturday is the next thing that fails.
        assert (decision.decision, decision.valid_until) == (ALLOW, local(SHANGHAI, "2026-06-13 00:00"))


def test_cn_allow_is_valid_until_the_non_working_day_starts() -> None:
    decision = decide(
        make_input(local(SHANGHAI, "2026-06-12 23:00"), jurisdictions=["CN"], timezone="Asia/Shanghai"),
        CN_ONLY,
    )
    assert (decision.decision, decision.valid_until) == (ALLOW, local(SHANGHAI, "2026-06-13 00:00"))


# --- GB -------------------------------------------------------------------------------------------------


def test_gb_adds_nothing_beyond_bank() -> None:
    def at(moment: str, history: Sequence[dict[str, object]] = ()) -> Decision:
        inp = make_input(
            local(LONDON, moment),
            jurisdictions=["GB"],
            timezone="Europe/London",
            consents=[],
            history=history,
        )
        return decide(inp, BOOK)

    morning = at("2026-06-13 08:00")  # a Saturday, without consent: neither matters in GB
    assert (morning.decision, morning.pack_versions) == (ALLOW, {"BANK": "2026.1", "GB": "2026.1"})
    assert at("2026-06-13 21:00").not_before == local(LONDON, "2026-06-14 08:00")
    calls = [entry("voice", local(LONDON, f"2026-06-13 0{h}:00"), "no_answer") for h in (1, 2, 3)]
    assert at("2026-06-13 10:00", calls).reasons == [R.FREQUENCY_CAP]


def test_rules_apply_only_to_their_channels(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "calls",
        """
pack = "CALLS"
applies_to_all = true
[[versions]]
version = "1"
effective_from = 2026-01-01
[[versions.windows]]
name = "call_hours"
channels = ["voice"]
start = 09:00:00
end = 17:00:00
[[versions.cooldowns]]
name = "no_email_after_reply"
after_channels = ["sms"]
after_outcomes = ["replied"]
applies_to = ["email"]
scope = "debtor"
local_days = 2
""",
    )
    book = book_in(tmp_path)
    now = local(NY, "2026-06-10 18:00")
    history = [entry("sms", local(NY, "2026-06-09 12:00"), "replied", account_id="a9")]
    assert decide(make_input(now, channel="sms", history=history), book).decision is ALLOW
    voice = decide(make_input(now, channel="voice", history=history), book)
    assert (voice.not_before, voice.rules) == (local(NY, "2026-06-11 09:00"), ["CALLS:call_hours"])
    email = decide(make_input(now, channel="email", history=history), book)
    assert (email.not_before, email.reasons) == (local(NY, "2026-06-11 00:00"), [R.CONVERSATION_COOLDOWN])
