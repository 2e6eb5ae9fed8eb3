"""Contact points of third parties: CN's emergency contacts while the debtor is unreachable, guarantors like
the debtor, nobody else, and the default elsewhere (the debtor and a guarantor only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.vocab import DecisionKind, ReasonCode
from services.gatekeeper.engine import decide
from services.gatekeeper.model import Decision
from tests.unit.gatekeeper.builders import BOOK, NY, SHANGHAI, entry, escalation_entry, local, make_input

R = ReasonCode
ALLOW, DEFER, BLOCK = DecisionKind.ALLOW, DecisionKind.DEFER, DecisionKind.BLOCK
# A Wednesday, a working day in China.
NOW = local(SHANGHAI, "2026-06-10 10:00")
CN_RULE = "CN:third_party_contact"
LIMITED = ["limited_content"]


def _calls(*outcomes: str, relation: str | None = None, start: datetime = NOW) -> list[dict[str, Any]]:
    """Voice attempts to the debtor's own points, the last one an hour before ``start``, one a day before."""
    return [
        entry("voice", start - timedelta(hours=1, days=len(outcomes) - 1 - i), o, f"a{i}", relation=relation)
        for i, o in enumerate(outcomes)
    ]


FAILED_THRICE = _calls("no_answer", "busy", "not_connected")


def _cn(
    relation: str,
    history: Sequence[dict[str, Any]] = FAILED_THRICE,
    tags: Sequence[str] = LIMITED,
    now: datetime = NOW,
    **changes: Any,
) -> Decision:
    changes.setdefault("timezone", "Asia/Shanghai")
    changes.setdefault("jurisdictions", ["CN"])
    inp = make_input(now, channel="sms", relation=relation, tags=tags, history=history, **changes)
    return decide(inp, BOOK)


def _blocked(decision: Decision, *reasons: ReasonCode) -> None:
    assert (decision.decision, set(decision.reasons), decision.not_before) == (BLOCK, set(reasons), None)


# --- when the debtor is unreachable -------------------------------------------------------------------


def test_the_third_failed_call_makes_the_debtor_unreachable() -> None:
    two = _cn("emergency_contact", FAILED_THRICE[1:])
    _blocked(two, R.THIRD_PARTY_NOT_ALLOWED)
    assert two.rules == [CN_RULE]
    assert _cn("emergency_contact", FAILED_THRICE).decision is ALLOW


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "not_connected", "failed"])
def test_each_failed_outcome_counts_as_a_failure(outcome: str) -> None:
    assert _cn("emergency_contact", _calls("no_answer", "no_answer", outcome)).decision is ALLOW


@pytest.mark.parametrize(
    "outcome", ["voicemail", "approved", "sent", "delivered", "unknown", "blocked", "expired", "cancelled"]
)
def test_anything_else_among_the_last_three_keeps_the_debtor_reachable(outcome: str) -> None:
    # Voicemail is not a failure; an attempt whose outcome is not known yet (approved) is not failed either.
    _blocked(_cn("emergency_contact", _calls("no_answer", outcome, "busy")), R.THIRD_PARTY_NOT_ALLOWED)


def test_only_the_three_most_recent_calls_count() -> None:
    older_answered = _calls("voicemail", "approved", "no_answer", "busy", "failed")
    assert _cn("emergency_contact", older_answered).decision is ALLOW
    _blocked(
        _cn("emergency_contact", _calls("no_answer", "busy", "failed", "voicemail")),
        R.THIRD_PARTY_NOT_ALLOWED,
    )


def test_calls_on_every_account_count_and_order_is_by_time_not_by_list() -> None:
    calls = list(reversed(_calls("voicemail", "no_answer", "busy", "failed")))
    assert {call["account_id"] for call in calls} == {"a0", "a1", "a2", "a3"}
    assert _cn("emergency_contact", calls).decision is ALLOW


def test_calls_at_the_same_instant_as_the_third_must_all_have_failed() -> None:
    # Four calls, the two oldest at one instant: which is "the third most recent" is not defined, so both
    # must have failed.
    at = NOW - timedelta(days=2)
    tied = [entry("voice", at, "voicemail"), entry("voice", at, "no_answer"), *_calls("busy", "failed")]
    _blocked(_cn("emergency_contact", tied), R.THIRD_PARTY_NOT_ALLOWED)
    tied[0] = entry("voice", at, "busy")
    assert _cn("emergency_contact", tied).decision is ALLOW


@pytest.mark.parametrize(
    ("hours", "reachable"),
    [(71, True), (72, True), (72 + 1 / 3600, False), (73, False)],
    ids=["71h", "72h", "72h1s", "73h"],
)
def test_a_conversation_within_72_hours_keeps_the_debtor_reachable(hours: float, reachable: bool) -> None:
    talk = entry("sms", NOW - timedelta(hours=hours), "conversation", "a9")
    decision = _cn("emergency_contact", [*FAILED_THRICE, talk])
    if reachable:
        _blocked(decision, R.THIRD_PARTY_NOT_ALLOWED)
    else:
        assert decision.decision is ALLOW


@pytest.mark.parametrize("outcome", ["conversation", "replied", "agent_transfer"])
@pytest.mark.parametrize("channel", ["sms", "email", "voice"])
def test_a_reply_or_agent_transfer_on_any_channel_also_reaches_the_debtor(outcome: str, channel: str) -> None:
    reached = entry(channel, NOW - timedelta(hours=71), outcome)
    history = [*_calls("no_answer", "busy", "failed", start=NOW - timedelta(hours=72)), reached]
    _blocked(_cn("emergency_contact", history), R.THIRD_PARTY_NOT_ALLOWED)


def test_only_the_debtors_own_points_decide_reachability() -> None:
    on_the_contact = _calls("no_answer", "busy", "failed", relation="emergency_contact")
    _blocked(_cn("emergency_contact", on_the_contact), R.THIRD_PARTY_NOT_ALLOWED)
    guarantor_talk = entry("voice", NOW - timedelta(hours=2), "conversation", relation="guarantor")
    assert _cn("emergency_contact", [*FAILED_THRICE, guarantor_talk]).decision is ALLOW
    explicit_self = _calls("no_answer", "busy", "failed", relation="self")
    assert _cn("emergency_contact", explicit_self).decision is ALLOW


def test_escalations_in_the_history_are_no_contacts() -> None:
    escalations = [escalation_entry("field_visit", NOW - timedelta(hours=h)) for h in (1, 2, 3)]
    _blocked(_cn("emergency_contact", escalations), R.THIRD_PARTY_NOT_ALLOWED)
    assert _cn("emergency_contact", [*FAILED_THRICE, *escalations]).decision is ALLOW


def test_entries_after_now_are_not_history_yet() -> None:
    later = entry("voice", NOW + timedelta(minutes=5), "no_answer")
    _blocked(_cn("emergency_contact", [*FAILED_THRICE[1:], later]), R.THIRD_PARTY_NOT_ALLOWED)
    talk_later = entry("voice", NOW + timedelta(minutes=5), "conversation")
    assert _cn("emergency_contact", [*FAILED_THRICE, talk_later]).decision is ALLOW


# --- what the third party may be told ------------------------------------------------------------------


def test_an_emergency_contact_gets_limited_content_only() -> None:
    unreachable = _cn("emergency_contact", tags=["debt_advice", "forbearance_offer"])
    _blocked(unreachable, R.THIRD_PARTY_DISCLOSURE)
    assert unreachable.rules == [CN_RULE]
    both = _cn("emergency_contact", FAILED_THRICE[:2], tags=[])
    _blocked(both, R.THIRD_PARTY_NOT_ALLOWED, R.THIRD_PARTY_DISCLOSURE)
    assert both.reasons == [R.THIRD_PARTY_NOT_ALLOWED, R.THIRD_PARTY_DISCLOSURE]


@pytest.mark.parametrize("tags", [[], LIMITED])
@pytest.mark.parametrize("history", [[], FAILED_THRICE], ids=["reachable", "unreachable"])
def test_other_third_parties_never_and_with_the_first_code_only(
    tags: list[str], history: list[dict[str, Any]]
) -> None:
    decision = _cn("other", history, tags=tags)
    assert (decision.decision, decision.reasons, decision.rules) == (
        BLOCK,
        [R.THIRD_PARTY_NOT_ALLOWED],
        [CN_RULE],
    )


@pytest.mark.parametrize("relation", ["self", "guarantor"])
def test_the_debtor_and_a_guarantor_need_neither_unreachability_nor_limited_content(relation: str) -> None:
    assert _cn(relation, [], tags=[]).decision is ALLOW


def test_without_a_destination_the_request_reaches_the_debtor() -> None:
    inp = make_input(NOW, channel="sms", jurisdictions=["CN"], timezone="Asia/Shanghai")
    assert inp.request.destination is None
    assert decide(inp, BOOK).decision is ALLOW


# --- the other rules still hold ------------------------------------------------------------------------


def test_third_party_blocks_list_hard_stops_only() -> None:
    night = local(SHANGHAI, "2026-06-10 23:00")
    decision = _cn("emergency_contact", [], tags=[], now=night, flags=["dispute"], opt_outs=["sms"])
    assert decision.reasons == [
        R.DISPUTE,
        R.OPTED_OUT,
        R.THIRD_PARTY_NOT_ALLOWED,
        R.THIRD_PARTY_DISCLOSURE,
    ]
    assert decision.rules == ["debtor:flag:dispute", "debtor:opt_out:sms", CN_RULE]


def test_a_reachable_debtors_third_party_request_is_blocked_not_deferred() -> None:
    # Even at night, when the debtor may well be unreachable by tomorrow: judged at the decision's instant.
    _blocked(
        _cn("emergency_contact", FAILED_THRICE[1:], now=local(SHANGHAI, "2026-06-10 23:00")),
        R.THIRD_PARTY_NOT_ALLOWED,
    )


def test_an_allowed_third_party_contact_passes_hours_calendar_and_caps() -> None:
    night = _cn("emergency_contact", now=local(SHANGHAI, "2026-06-10 21:30"))
    assert (night.decision, night.not_before, night.reasons) == (
        DEFER,
        local(SHANGHAI, "2026-06-11 08:00"),
        [R.QUIET_HOURS],
    )
    saturday = _cn("emergency_contact", now=local(SHANGHAI, "2026-06-13 10:00"))
    assert (saturday.decision, saturday.reasons) == (DEFER, [R.NON_WORKING_DAY])
    texted = entry("sms", NOW - timedelta(minutes=30), "delivered", relation="emergency_contact")
    capped = _cn("emergency_contact", [*FAILED_THRICE, texted])
    assert (capped.decision, capped.reasons, capped.rules) == (DEFER, [R.FREQUENCY_CAP], ["BANK:sms_per_day"])


def test_the_destinations_number_adds_its_zones() -> None:
    # An emergency contact in New York for a debtor in Shanghai: 08:00-21:00 in both is 20:00-21:00 Shanghai.
    decision = _cn("emergency_contact", address="+12125550100")
    assert (decision.decision, decision.not_before) == (DEFER, local(SHANGHAI, "2026-06-10 20:00"))
    assert decision.not_before == local(NY, "2026-06-10 08:00")
    # An address that is not a phone number, or one without a zone, adds none.
    assert _cn("emergency_contact", address="contact@example.com").decision is ALLOW
    assert _cn("emergency_contact", address="+18005550100").decision is ALLOW


def test_the_destination_never_gives_the_debtors_zone() -> None:
    decision = _cn("emergency_contact", address="+8613800138000", timezone=None)
    assert decision.reasons == [R.TIMEZONE_UNKNOWN]


def test_a_reply_to_a_third_party_is_held_to_the_same_rule() -> None:
    decision = _cn("other", kind="reply")
    assert decision.reasons == [R.THIRD_PARTY_NOT_ALLOWED]
    assert _cn("emergency_contact", kind="reply").decision is ALLOW


# --- elsewhere: the default ------------------------------------------------------------------------------


@pytest.mark.parametrize("jurisdictions", [[], ["US"], ["US-MA"], ["GB"]])
@pytest.mark.parametrize("relation", ["emergency_contact", "other"])
def test_default_deny_outside_cn(jurisdictions: list[str], relation: str) -> None:
    # However unreachable the debtor and however limited the template.
    inp = make_input(
        local(NY, "2026-06-10 10:00"),
        channel="email",
        jurisdictions=jurisdictions,
        relation=relation,
        tags=LIMITED,
        history=_calls("no_answer", "busy", "failed", start=local(NY, "2026-06-10 10:00")),
    )
    decision = decide(inp, BOOK)
    assert (decision.decision, decision.reasons, decision.rules) == (
        BLOCK,
        [R.THIRD_PARTY_NOT_ALLOWED],
        ["default:third_party_contact"],
    )


@pytest.mark.parametrize("jurisdictions", [[], ["US"], ["GB"]])
def test_a_guarantor_is_contacted_like_the_debtor_everywhere(jurisdictions: list[str]) -> None:
    inp = make_input(
        local(NY, "2026-06-10 10:00"), channel="email", jurisdictions=jurisdictions, relation="guarantor"
    )
    assert decide(inp, BOOK).decision is ALLOW


def test_cn_with_another_pack_uses_cns_rule() -> None:
    # US says nothing of third parties; CN's rule governs, and US's consent still applies.
    decision = _cn("emergency_contact", jurisdictions=["CN", "US"], consents=["sms"])
    assert (decision.decision, decision.pack_versions) == (
        ALLOW,
        {"BANK": "2026.1", "CN": "2026.1", "US": "2026.1"},
    )
    assert _cn("emergency_contact", jurisdictions=["CN", "US"], consents=[]).reasons == [R.NO_CONSENT]
