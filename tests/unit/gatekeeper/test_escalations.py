"""Escalation requests: which debtor flags bar which escalation, and the EU's forbearance before enforcement.
An escalation has no channel: no window, calendar, cap, consent, opt-out or time zone applies to it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.vocab import DebtorFlag, DecisionKind, ReasonCode
from services.gatekeeper.engine import decide
from services.gatekeeper.model import DecideInput, Decision
from tests.unit.gatekeeper.builders import BOOK, entry, escalation_entry, make_input, utc

R = ReasonCode
ALLOW, DEFER, BLOCK = DecisionKind.ALLOW, DecisionKind.DEFER, DecisionKind.BLOCK
NOW = utc("2026-12-10 03:00")  # night in Europe and New York: it does not matter
FORBEARANCE = "EU:forbearance_before_enforcement"
FLAG_CODES = {flag.value: ReasonCode[flag.name] for flag in DebtorFlag}
LEGAL_REMEDY_STOPS = {"dispute", "bankruptcy", "attorney", "breathing_space"}
ALL_FLAGS = set(FLAG_CODES)
STOPS = {
    "legal": LEGAL_REMEDY_STOPS,
    "agency": LEGAL_REMEDY_STOPS,
    "field_visit": ALL_FLAGS,
    "restructuring_offer": set[str](),
}


def _escalate(escalation: str, now: datetime = NOW, **changes: Any) -> Decision:
    return decide(make_input(now, escalation=escalation, **changes), BOOK)


def _offer(age: timedelta, outcome: str = "delivered", **changes: Any) -> dict[str, Any]:
    return entry("email", NOW - age, outcome, tags=["forbearance_offer", "debt_advice"], **changes)


# --- hard stops ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("escalation", list(STOPS))
@pytest.mark.parametrize("flag", sorted(FLAG_CODES))
def test_which_flags_bar_which_escalation(escalation: str, flag: str) -> None:
    decision = _escalate(escalation, flags=[flag])
    if flag in STOPS[escalation]:
        assert (decision.decision, decision.reasons, decision.rules) == (
            BLOCK,
            [FLAG_CODES[flag]],
            [f"debtor:flag:{flag}"],
        )
    else:
        assert (decision.decision, decision.reasons) == (ALLOW, [])


@pytest.mark.parametrize("escalation", list(STOPS))
def test_every_flag_at_once(escalation: str) -> None:
    decision = _escalate(escalation, flags=[*FLAG_CODES, "vip"], jurisdictions=["EU"])
    expected = [code for code in R if code.value.lower() in STOPS[escalation]]
    assert (decision.decision, decision.reasons) == ((BLOCK, expected) if expected else (ALLOW, []))


def test_a_hard_stop_hides_forbearance() -> None:
    decision = _escalate("legal", jurisdictions=["EU"], flags=["attorney"])
    assert (decision.decision, decision.reasons, decision.rules) == (
        BLOCK,
        [R.ATTORNEY],
        ["debtor:flag:attorney"],
    )


def test_nothing_of_a_channel_applies() -> None:
    # No time zone, no consents, every channel opted out, a full history: an escalation is no contact.
    calls = [entry("voice", NOW - timedelta(minutes=m), "no_answer") for m in range(1, 10)]
    decision = _escalate(
        "field_visit",
        jurisdictions=["US-MA", "CN", "GB"],
        timezone=None,
        consents=[],
        opt_outs=["sms", "email", "voice"],
        history=calls,
    )
    assert (decision.decision, decision.valid_until) == (ALLOW, NOW + timedelta(days=30))


def test_escalations_in_the_history_count_towards_no_cap() -> None:
    history = [escalation_entry("field_visit", NOW - timedelta(minutes=m)) for m in range(1, 10)]
    inp = make_input(utc("2026-12-10 15:00"), channel="voice", history=history)
    assert decide(inp, BOOK).decision is ALLOW


def test_not_before_and_expiry_apply() -> None:
    later = _escalate("legal", not_before=NOW + timedelta(hours=2, microseconds=1))
    assert (later.decision, later.not_before, later.reasons) == (
        DEFER,
        NOW + timedelta(hours=2, seconds=1),
        [R.NOT_BEFORE],
    )
    expired = _escalate("legal", expires_at=NOW)
    assert (expired.decision, expired.reasons, expired.rules) == (BLOCK, [R.EXPIRED], ["request:expires_at"])
    soon = _escalate("legal", expires_at=NOW + timedelta(hours=1))
    assert (soon.decision, soon.valid_until) == (ALLOW, NOW + timedelta(hours=1))


def test_agency_and_agency_placement_are_one_escalation() -> None:
    assert (
        make_input(NOW, escalation="agency").request == make_input(NOW, escalation="agency_placement").request
    )


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"kind": "escalation"}, "an escalation request needs 'escalation'"),
        ({"kind": "escalation", "escalation": "legal", "channel": "sms"}, "an escalation has no channel"),
        (
            {"kind": "escalation", "escalation": "legal", "destination": {"relation": "self"}},
            "an escalation has no channel and no destination",
        ),
        ({"kind": "escalation", "escalation": "bankruptcy_review"}, "is not decided by the gatekeeper"),
        ({"kind": "outreach", "channel": "sms", "escalation": "legal"}, "for requests of kind 'escalation'"),
        ({"kind": "outreach"}, "'channel' is required unless kind is 'escalation'"),
    ],
)
def test_request_shape(request_fields: dict[str, Any], message: str) -> None:
    data = {
        "now": NOW.isoformat(),
        "debtor": {"debtor_id": "d1"},
        "request": {"request_id": "r1", "account_id": "a1", **request_fields},
    }
    with pytest.raises(ValidationError, match=message):
        DecideInput.model_validate(data)


# --- forbearance before enforcement (EU) ---------------------------------------------------------------


def _eu(escalation: str = "legal", history: list[dict[str, Any]] | None = None, **changes: Any) -> Decision:
    return _escalate(escalation, jurisdictions=["EU"], history=history or [], **changes)


@pytest.mark.parametrize("escalation", ["legal", "agency"])
def test_enforcement_without_an_offer_is_blocked(escalation: str) -> None:
    decision = _eu(escalation)
    assert (decision.decision, decision.reasons, decision.rules, decision.not_before) == (
        BLOCK,
        [R.FORBEARANCE_REQUIRED],
        [FORBEARANCE],
        None,
    )


@pytest.mark.parametrize("escalation", ["field_visit", "restructuring_offer"])
def test_field_visits_and_restructuring_offers_need_no_offer(escalation: str) -> None:
    assert _eu(escalation).decision is ALLOW


def test_an_offer_13_days_23_hours_old_defers_to_the_exact_instant() -> None:
    decision = _eu(history=[_offer(timedelta(days=13, hours=23))])
    assert (decision.decision, decision.not_before, decision.reasons, decision.rules) == (
        DEFER,
        NOW + timedelta(hours=1),
        [R.FORBEARANCE_REQUIRED],
        [FORBEARANCE],
    )


@pytest.mark.parametrize("age", [timedelta(days=14), timedelta(days=14, seconds=1), timedelta(days=200)])
def test_an_offer_14_days_old_allows(age: timedelta) -> None:
    decision = _eu(history=[_offer(age)])
    assert (decision.decision, decision.valid_until) == (ALLOW, NOW + timedelta(days=30))


def test_a_fractional_offer_instant_defers_to_the_next_whole_second() -> None:
    decision = _eu(history=[_offer(timedelta(days=13, microseconds=-500))])
    assert decision.not_before == NOW + timedelta(days=1, seconds=1)


def test_several_young_offers_defer_until_the_oldest_is_old_enough() -> None:
    offers = [_offer(timedelta(days=3)), _offer(timedelta(days=10)), _offer(timedelta(days=1))]
    assert _eu(history=offers).not_before == NOW + timedelta(days=4)
    assert _eu(history=[*offers, _offer(timedelta(days=15))]).decision is ALLOW


@pytest.mark.parametrize("outcome", ["sent", "delivered", "conversation", "voicemail"])
def test_each_outcome_that_reached_the_debtor_makes_an_offer(outcome: str) -> None:
    assert _eu(history=[_offer(timedelta(days=20), outcome)]).decision is ALLOW


@pytest.mark.parametrize("outcome", ["approved", "failed", "no_answer", "undelivered", "blocked", "busy"])
def test_an_offer_that_did_not_reach_the_debtor_is_none(outcome: str) -> None:
    assert _eu(history=[_offer(timedelta(days=20), outcome)]).reasons == [R.FORBEARANCE_REQUIRED]


def test_an_offer_must_be_on_the_same_account_and_tagged() -> None:
    assert _eu(history=[_offer(timedelta(days=20), account_id="a2")]).decision is BLOCK
    untagged = entry("email", NOW - timedelta(days=20), "delivered", tags=["debt_advice"])
    assert _eu(history=[untagged]).decision is BLOCK
    assert _eu(history=[_offer(timedelta(days=20), account_id="a2")], account_id="a2").decision is ALLOW


def test_an_offer_after_now_is_no_earlier_offer() -> None:
    assert _eu(history=[_offer(-timedelta(minutes=1))]).decision is BLOCK


@pytest.mark.parametrize(("decision", "offered"), [("allow", True), ("defer", False), ("block", False)])
def test_an_allowed_restructuring_offer_is_an_offer(decision: str, offered: bool) -> None:
    restructured = escalation_entry("restructuring_offer", NOW - timedelta(days=14), decision)
    assert (_eu("agency", [restructured]).decision is ALLOW) is offered
    other = escalation_entry("field_visit", NOW - timedelta(days=14), decision)
    assert _eu("agency", [other]).decision is BLOCK


def test_forbearance_with_not_before_and_expiry() -> None:
    young = [_offer(timedelta(days=13))]
    both = _eu(history=young, not_before=NOW + timedelta(hours=2))
    assert (both.decision, both.not_before, both.reasons) == (
        DEFER,
        NOW + timedelta(days=1),
        [R.FORBEARANCE_REQUIRED, R.NOT_BEFORE],
    )
    late = _eu(history=young, not_before=NOW + timedelta(days=2))
    assert late.not_before == NOW + timedelta(days=2)
    expiring = _eu(history=young, expires_at=NOW + timedelta(days=1))
    assert (expiring.decision, expiring.reasons) == (BLOCK, [R.FORBEARANCE_REQUIRED, R.EXPIRED])
    assert _eu(history=young, expires_at=NOW + timedelta(days=1, seconds=1)).decision is DEFER


def test_no_forbearance_rule_outside_the_eu() -> None:
    for jurisdictions in ([], ["US"], ["CN"], ["GB"]):
        assert _escalate("legal", jurisdictions=jurisdictions).decision is ALLOW
