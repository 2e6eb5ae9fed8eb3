"""The EU pack (Consumer Credit Directive 2023/2225, from 2026-11-20): contact hours 08:00-20:00 and the
debt-advice referral on every outreach request. Forbearance before enforcement is in test_escalations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.vocab import DecisionKind, ReasonCode
from services.gatekeeper.engine import decide
from services.gatekeeper.model import Decision
from services.gatekeeper.policy import NoVersionInForceError
from tests.unit.gatekeeper.builders import BOOK, LONDON, entry, local, make_input, utc

R = ReasonCode
ALLOW, DEFER, BLOCK = DecisionKind.ALLOW, DecisionKind.DEFER, DecisionKind.BLOCK
BERLIN = ZoneInfo("Europe/Berlin")
ADVICE = ["debt_advice"]
EU_VERSIONS = {"BANK": "2026.1", "EU": "2026.1"}


def _eu(moment: str, tags: list[str] = ADVICE, **changes: Any) -> Decision:
    changes.setdefault("timezone", "Europe/Berlin")
    changes.setdefault("channel", "email")
    return decide(make_input(local(BERLIN, moment), jurisdictions=["EU"], tags=tags, **changes), BOOK)


# --- contact hours -------------------------------------------------------------------------------------


def test_eu_window_ends_at_eight_in_the_evening() -> None:
    late = _eu("2026-12-01 19:59:59")
    assert (late.decision, late.valid_until, late.pack_versions) == (
        ALLOW,
        local(BERLIN, "2026-12-01 20:00"),
        EU_VERSIONS,
    )
    closed = _eu("2026-12-01 20:00")
    assert (closed.decision, closed.not_before, closed.reasons, closed.rules) == (
        DEFER,
        local(BERLIN, "2026-12-01 08:00") + timedelta(days=1),
        [R.QUIET_HOURS],
        ["EU:contact_hours"],
    )
    morning = _eu("2026-12-02 07:59:59")
    assert morning.rules == ["BANK:contact_hours", "EU:contact_hours"]
    assert _eu("2026-12-02 08:00").decision is ALLOW


@pytest.mark.parametrize("channel", ["sms", "email", "voice"])
def test_eu_window_holds_on_every_channel(channel: str) -> None:
    assert _eu("2026-12-01 20:30", channel=channel).reasons == [R.QUIET_HOURS]


def test_eu_window_holds_in_every_candidate_zone() -> None:
    # Berlin and a London number: 08:00-20:00 in both is 09:00-20:00 in Berlin.
    early = _eu("2026-12-01 08:30", phones=["+442071234567"])
    assert (early.decision, early.not_before) == (DEFER, local(LONDON, "2026-12-01 08:00"))
    assert early.not_before == local(BERLIN, "2026-12-01 09:00")
    evening = _eu("2026-12-01 19:00", phones=["+442071234567"])
    assert (evening.decision, evening.valid_until) == (ALLOW, local(BERLIN, "2026-12-01 20:00"))


def test_eu_window_with_the_debtors_inconvenient_times() -> None:
    decision = _eu("2026-12-01 17:30", inconvenient=[("18:00", "08:30")])
    assert (decision.decision, decision.valid_until) == (ALLOW, local(BERLIN, "2026-12-01 18:00"))
    morning = _eu("2026-12-02 08:00", inconvenient=[("18:00", "08:30")])
    assert morning.not_before == local(BERLIN, "2026-12-02 08:30")


def test_eu_adds_no_consent_calendar_or_cap() -> None:
    saturday = _eu("2026-12-05 10:00", channel="voice", consents=[])  # a Saturday, no consent
    assert saturday.decision is ALLOW
    texted = [entry("sms", local(BERLIN, "2026-12-01 09:00"), "delivered")]
    capped = _eu("2026-12-01 15:00", channel="sms", history=texted)
    assert capped.rules == ["BANK:sms_per_day"]  # BANK's caps still hold


def test_eu_has_no_version_before_the_directive_applies() -> None:
    with pytest.raises(NoVersionInForceError, match="pack EU"):
        decide(make_input(utc("2026-11-19 23:59:59"), jurisdictions=["EU"], tags=ADVICE), BOOK)
    assert decide(
        make_input(utc("2026-11-20 10:00"), jurisdictions=["EU"], tags=ADVICE), BOOK
    ).pack_versions == (EU_VERSIONS)


# --- the debt-advice referral --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "email", "voice"])
@pytest.mark.parametrize("relation", [None, "self", "guarantor"])
def test_outreach_needs_a_debt_advice_template(channel: str, relation: str | None) -> None:
    for tags in ([], ["limited_content", "forbearance_offer"]):
        decision = _eu("2026-12-01 10:00", tags, channel=channel, relation=relation)
        assert (decision.decision, decision.reasons, decision.rules) == (
            BLOCK,
            [R.DEBT_ADVICE_REQUIRED],
            ["EU:debt_advice_referral"],
        )
    assert _eu("2026-12-01 10:00", ADVICE, channel=channel, relation=relation).decision is ALLOW


def test_debt_advice_blocks_like_a_hard_stop() -> None:
    # At night and already expired: only the block reasons, with every other hard stop.
    now = local(BERLIN, "2026-12-01 23:00")
    decision = _eu("2026-12-01 23:00", [], opt_outs=["email"], expires_at=now - timedelta(hours=1))
    assert (decision.decision, decision.reasons) == (BLOCK, [R.OPTED_OUT, R.DEBT_ADVICE_REQUIRED])


def test_a_reply_needs_no_referral() -> None:
    decision = _eu("2026-12-01 23:00", [], kind="reply", channel="sms")
    assert (decision.decision, decision.valid_until) == (ALLOW, local(BERLIN, "2026-12-02 00:00"))


def test_a_third_party_in_the_eu_is_refused_before_the_template_matters() -> None:
    decision = _eu("2026-12-01 10:00", [], relation="emergency_contact")
    assert decision.reasons == [R.THIRD_PARTY_NOT_ALLOWED, R.DEBT_ADVICE_REQUIRED]


def test_no_referral_needed_outside_the_eu() -> None:
    inp = make_input(
        local(LONDON, "2026-12-01 10:00"), channel="email", jurisdictions=["GB"], timezone="Europe/London"
    )
    assert decide(inp, BOOK).decision is ALLOW
