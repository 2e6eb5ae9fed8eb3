"""What callbacks turn into, without I/O: Twilio statuses to outcomes, call cost, the keypad promise and
reply, the signed context, the forward-only memory, and the TwiML of the voice menu."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from schemas import ids
from schemas.callbacks import CallbackContext
from schemas.ids import deterministic_id
from schemas.vocab import Channel, OutcomeStatus, RequestKind
from services.messaging.templates import LocaleRules
from services.messaging.twilio import MESSAGE_RANK, MESSAGE_STATUS, call_outcome
from services.webhooks import events, voice
from services.webhooks.memory import Claims, Furthest

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
CONTEXT = {
    "r": "r-call",
    "d": "d1",
    "a": "acc-1",
    "c": "voice",
    "s": "default",
    "sv": "3",
    "arm": "champion",
    "t": "reminder",
    "l": "zh-CN",
    "v": {"name": "王小明", "amount_due": "300.00", "currency": "CNY", "payment_link": "https://p/1"},
}
ZH = LocaleRules(say_language="cmn-CN", say_voice="Polly.Zhiyu", sms_opt_out=["TD"], email_opt_out=["退订"])


@pytest.mark.parametrize(
    ("status", "answered_by", "outcome"),
    [
        ("completed", "human", OutcomeStatus.CONVERSATION),
        ("completed", None, OutcomeStatus.CONVERSATION),  # no detection asked: a person is assumed
        ("completed", "unknown", OutcomeStatus.CONVERSATION),
        ("completed", "machine_end_beep", OutcomeStatus.VOICEMAIL),
        ("completed", "machine_start", OutcomeStatus.VOICEMAIL),
        ("completed", "fax", OutcomeStatus.NOT_CONNECTED),
        ("no-answer", None, OutcomeStatus.NO_ANSWER),
        ("busy", None, OutcomeStatus.BUSY),
        ("failed", None, OutcomeStatus.NOT_CONNECTED),  # never connected: not a placed call (Reg F)
        ("canceled", None, OutcomeStatus.NOT_CONNECTED),
        ("ringing", None, None),
        ("in-progress", "human", None),
    ],
)
def test_call_statuses(status: str, answered_by: str | None, outcome: OutcomeStatus | None) -> None:
    assert call_outcome(status, answered_by) is outcome


def test_message_statuses_and_their_order() -> None:
    assert MESSAGE_STATUS["delivered"] is OutcomeStatus.DELIVERED
    assert MESSAGE_STATUS["undelivered"] is OutcomeStatus.UNDELIVERED
    assert MESSAGE_RANK["queued"] < MESSAGE_RANK["sent"] < MESSAGE_RANK["delivered"]


def test_calls_are_billed_per_started_minute() -> None:
    assert events.call_cost(0, Decimal("0.014")) == 0
    assert events.call_cost(1, Decimal("0.014")) == Decimal("0.014")
    assert events.call_cost(61, Decimal("0.014")) == Decimal("0.028")


def test_keypad_1_promises_the_amount_due_and_asks_for_the_link_once() -> None:
    ctx = CallbackContext.model_validate(CONTEXT)
    promise = events.promise(ctx, date(2026, 6, 10), 7, NOW)
    assert promise is not None
    assert (promise.amount, promise.currency, promise.promised_date) == (
        Decimal("300.00"),
        "CNY",
        date(2026, 6, 17),
    )
    assert promise.promise_id == events.promise(ctx, date(2026, 6, 11), 7, NOW).promise_id  # type: ignore[union-attr]
    reply = events.payment_link_request(ctx, "+14152000001", NOW, timedelta(hours=24))
    assert reply.request_id == deterministic_id("reply", "payment_link", "r-call")
    assert (reply.kind, reply.channel, reply.template, reply.language) == (
        RequestKind.REPLY,
        Channel.SMS,
        "payment_link",
        "zh-CN",
    )
    assert reply.variables == {"name": "王小明", "payment_link": "https://p/1"}
    assert reply.expires_at == NOW + timedelta(hours=24)
    no_amount = CallbackContext.model_validate({**CONTEXT, "v": {"name": "x"}})
    assert events.promise(no_amount, date(2026, 6, 10), 7, NOW) is None


def test_the_same_fact_has_the_same_outcome_id() -> None:
    ctx = CallbackContext.model_validate(CONTEXT)
    first = events.outcome(ctx, OutcomeStatus.CONVERSATION, ids.Observer.CALLBACK, NOW, final=True)
    again = events.outcome(
        ctx, OutcomeStatus.CONVERSATION, ids.Observer.CALLBACK, NOW + timedelta(seconds=3), final=True
    )
    keypad = events.outcome(ctx, OutcomeStatus.CONVERSATION, ids.Observer.KEYPAD, NOW, final=False)
    assert first.outcome_id == again.outcome_id != keypad.outcome_id


def test_a_claim_holds_copies_off_until_released_and_is_remembered_within_a_bound() -> None:
    claims = Claims(size=2)
    assert claims.claim(["sig:a", "retry:1"])
    assert not claims.claim(["sig:a"]) and not claims.claim(["sig:other", "retry:1"])  # in hand
    claims.release(["sig:a", "retry:1"])  # its publish failed: the provider's retry is new
    assert claims.claim(["sig:a", "retry:1"])
    claims.settle(["sig:a", "retry:1"])
    assert not claims.claim(["sig:a"])  # handled
    for key in ("sig:b", "sig:c"):
        assert claims.claim([key])
        claims.settle([key])
    assert claims.claim(["sig:a"]) and not claims.claim(["sig:c"])  # the oldest handled are forgotten
    furthest = Furthest()
    furthest.record("r", MESSAGE_RANK["delivered"])
    assert not furthest.moves_forward("r", MESSAGE_RANK["sent"])
    assert furthest.moves_forward("r", MESSAGE_RANK["read"])


def test_the_menu_listens_for_one_key_in_the_debtors_language() -> None:
    document = ET.fromstring(voice.menu("菜单", "再见", ZH, "https://hooks/twilio/calls/gather?ctx=a&r=b", 6))
    gather, goodbye, hangup = list(document)
    assert gather.tag == "Gather"
    assert gather.attrib == {
        "action": "https://hooks/twilio/calls/gather?ctx=a&r=b",
        "method": "POST",
        "numDigits": "1",
        "timeout": "6",
    }
    [say] = list(gather)
    assert (say.text, say.attrib) == ("菜单", {"language": "cmn-CN", "voice": "Polly.Zhiyu"})
    assert (goodbye.tag, goodbye.text, hangup.tag) == ("Say", "再见", "Hangup")


def test_the_transfer_dials_the_agent_line_with_our_caller_id() -> None:
    document = ET.fromstring(voice.transfer("请稍候", ZH, "+15550009002", "+15550009001"))
    say, dial = list(document)
    assert say.text == "请稍候"
    assert dial.attrib == {"callerId": "+15550009001"}
    assert [number.text for number in dial] == ["+15550009002"]
