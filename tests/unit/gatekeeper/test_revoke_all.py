"""TCPA revoke-all (47 CFR 64.1200(a)(10), from 2027-01-31T00:00:00Z): an opt-out on sms or voice revokes
both; before that instant an opt-out stays on its channel. The versions in force at ``now`` decide."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from schemas.vocab import DecisionKind, ReasonCode
from services.gatekeeper.engine import decide
from services.gatekeeper.model import Decision
from tests.unit.gatekeeper.builders import BOOK, SHANGHAI, local, make_input, utc

R = ReasonCode
ALLOW, DEFER, BLOCK = DecisionKind.ALLOW, DecisionKind.DEFER, DecisionKind.BLOCK
IN_FORCE = utc("2027-01-31 00:00")  # 19:00 in New York the evening before
SECOND = timedelta(seconds=1)


def _us(
    now: datetime, channel: str, opt_outs: list[str], jurisdictions: tuple[str, ...] = ("US",)
) -> Decision:
    return decide(make_input(now, channel=channel, jurisdictions=jurisdictions, opt_outs=opt_outs), BOOK)


@pytest.mark.parametrize("jurisdictions", [("US",), ("US-MA",)])
@pytest.mark.parametrize(("channel", "opted_out"), [("sms", "voice"), ("voice", "sms")])
def test_revoke_all_the_second_before_and_at_the_instant(
    jurisdictions: tuple[str, ...], channel: str, opted_out: str
) -> None:
    before = _us(IN_FORCE - SECOND, channel, [opted_out], jurisdictions)
    # Allowed under 2026.1, but not past the instant 2027.1 takes over.
    assert (before.decision, before.valid_until, before.pack_versions["US"]) == (ALLOW, IN_FORCE, "2026.1")
    at = _us(IN_FORCE, channel, [opted_out], jurisdictions)
    assert (at.decision, at.reasons, at.rules, at.pack_versions["US"]) == (
        BLOCK,
        [R.OPTED_OUT],
        ["US:revoke_all"],
        "2027.1",
    )


def test_an_opt_out_on_the_channel_itself_is_named_once() -> None:
    decision = _us(IN_FORCE, "sms", ["sms", "voice"])
    assert (decision.reasons, decision.rules) == ([R.OPTED_OUT], ["debtor:opt_out:sms"])


@pytest.mark.parametrize("now", [IN_FORCE - SECOND, IN_FORCE, IN_FORCE + timedelta(days=90)])
def test_email_is_not_affected(now: datetime) -> None:
    assert _us(now, "email", ["sms", "voice"]).decision is ALLOW
    for channel in ("sms", "voice"):
        assert _us(now, channel, ["email"]).decision is ALLOW


def test_revoke_all_is_the_us_packs_only() -> None:
    for jurisdictions in (("GB",), ("CN",), ()):
        inp = make_input(
            local(SHANGHAI, "2027-02-03 10:00"),
            channel="sms",
            jurisdictions=jurisdictions,
            timezone="Asia/Shanghai",
            opt_outs=["voice"],
        )
        assert decide(inp, BOOK).decision is ALLOW


def test_a_reply_is_held_to_it_too() -> None:
    decision = decide(
        make_input(IN_FORCE, channel="sms", kind="reply", jurisdictions=["US"], opt_outs=["voice"]), BOOK
    )
    assert decision.reasons == [R.OPTED_OUT]
    earlier = decide(
        make_input(
            IN_FORCE - timedelta(minutes=30),
            channel="sms",
            kind="reply",
            jurisdictions=["US"],
            opt_outs=["voice"],
        ),
        BOOK,
    )
    assert (earlier.decision, earlier.valid_until) == (ALLOW, IN_FORCE)


def test_a_request_deferred_across_the_instant_is_decided_again_under_the_new_version() -> None:
    # 22:00 in New York on 2027-01-29: deferred to 08:00 on 2027-01-30 under 2026.1; the next morning's
    # decision (2027-01-31 08:00 New York) is made under 2027.1 and blocks.
    deferred = _us(utc("2027-01-30 03:00"), "sms", ["voice"])
    assert (deferred.decision, deferred.not_before) == (DEFER, utc("2027-01-30 13:00"))
    assert _us(utc("2027-01-31 13:00"), "sms", ["voice"]).rules == ["US:revoke_all"]
