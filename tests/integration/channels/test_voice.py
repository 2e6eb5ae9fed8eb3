"""The voice worker and the webhooks' voice menu against the Twilio sandbox: the call with answering-machine
detection, the menu in the debtor's language, keypad 1 (promise to pay and the payment-link SMS as a
reply) and 2 (the agent), the limited-content voicemail, and call statuses mapped to outcomes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from schemas import events as ev
from schemas.ids import deterministic_id
from schemas.vocab import Channel, OutcomeStatus, RequestKind
from services.core.settings import CommonSettings
from tests.channels_support import AGENT, START, VARIABLES, Providers, approval, eventually, table_number
from tests.integration.channels.conftest import Workers
from tests.support import Tail, publish


def outcomes(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


def final(tail: Tail, request_id: str) -> ev.ContactOutcome | None:
    return next((o for o in outcomes(tail, request_id) if o.final), None)


async def waiting_call(providers: Providers, request_id: str) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        calls = await providers.calls(request_id=request_id)
        return calls[0] if calls and calls[0]["awaiting_input"] else None

    call: dict[str, Any] = await eventually(ready)
    return call


async def test_keypad_1_records_a_promise_and_asks_for_the_payment_link(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.VOICE)
    human = table_number("20")
    variables = {**VARIABLES, "name": "王小明", "currency": "CNY", "amount_due": "300.00"}
    call_approval = approval(
        "d-v1", "r-call", human, channel=Channel.VOICE, language="zh-CN", variables=variables
    )
    await publish(settings, [call_approval], time=START)

    call = await waiting_call(providers, "r-call")
    assert call["answered_by"] == "human"  # only reported when MachineDetection was asked for
    assert urlsplit(call["url"]).path == "/twilio/calls/answer"
    assert parse_qs(urlsplit(call["url"]).query)["request_id"] == ["r-call"]
    [menu] = call["spoken"]
    assert (menu["language"], menu["voice"]) == ("cmn-CN", "Polly.Zhiyu")
    assert menu["text"].startswith("您好，这里是Example Bank，有一条给王小明的信息。")
    assert "300" not in menu["text"]  # the menu is heard before anyone proved to be the debtor

    pressed = await providers.press(call["sid"], "1")
    assert pressed["http_status"] == 200
    await tail.wait_for(lambda: final(tail, "r-call") is not None)

    [promise] = tail.of(ev.PromiseToPayRecorded)
    assert (promise.debtor_id, promise.account_id) == ("d-v1", "acc-d-v1")
    assert (promise.amount, promise.currency) == (Decimal("300.00"), "CNY")
    assert promise.promised_date == START.date() + timedelta(days=7)
    assert promise.source is ev.PromiseSource.VOICE_KEYPAD
    [reply] = tail.of(ev.ContactRequested)
    assert reply.request_id == deterministic_id("reply", "payment_link", "r-call")
    assert (reply.channel, reply.template, reply.kind, reply.destination) == (
        Channel.SMS,
        "payment_link",
        RequestKind.REPLY,
        human,
    )
    assert reply.variables == {"name": "王小明", "payment_link": VARIABLES["payment_link"]}
    assert reply.language == "zh-CN"
    spoken = (await providers.calls(request_id="r-call"))[0]["spoken"]
    assert spoken[-1]["text"].startswith("谢谢。我们已记录您的还款承诺")
    keypad = next(
        o for o in outcomes(tail, "r-call") if not o.final and o.status is OutcomeStatus.CONVERSATION
    )
    assert keypad.provider_ref == call["sid"]
    ended = final(tail, "r-call")
    assert ended is not None and ended.status is OutcomeStatus.CONVERSATION
    assert ended.duration_seconds > 0
    assert ended.cost == -(-ended.duration_seconds // 60) * Decimal("0.0140")


async def test_keypad_2_dials_the_agent_line(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.VOICE)
    await publish(
        settings, [approval("d-v2", "r-agent", table_number("20"), channel=Channel.VOICE)], time=START
    )
    call = await waiting_call(providers, "r-agent")
    assert call["spoken"][0]["language"] == "en-US"

    await providers.press(call["sid"], "2")
    await tail.wait_for(lambda: final(tail, "r-agent") is not None)

    assert (await providers.calls(request_id="r-agent"))[0]["dialed"] == [AGENT]
    statuses = {(o.status, o.final) for o in outcomes(tail, "r-agent")}
    assert (OutcomeStatus.AGENT_TRANSFER, False) in statuses
    assert tail.of(ev.PromiseToPayRecorded) == []


async def test_a_uk_debtor_hears_the_menu_and_the_transfer_in_british_english(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.VOICE)
    variables = {**VARIABLES, "currency": "GBP"}
    uk = approval(
        "d-v6", "r-uk", table_number("20"), channel=Channel.VOICE, language="en-GB", variables=variables
    )
    await publish(settings, [uk], time=START)
    call = await waiting_call(providers, "r-uk")
    [menu] = call["spoken"]
    assert (menu["language"], menu["voice"]) == ("en-GB", "Polly.Amy")
    assert menu["text"].startswith("Hello. This is Example Bank with a message for Alex Doe.")
    assert "Press 2 to speak to an adviser." in menu["text"]
    assert "free debt advice organisation" in menu["text"] and "120.50" not in menu["text"]

    await providers.press(call["sid"], "2")
    await tail.wait_for(lambda: final(tail, "r-uk") is not None)
    spoken = (await providers.calls(request_id="r-uk"))[0]["spoken"]
    assert spoken[-1] == {
        "text": "Thank you. Please hold while we put you through to an adviser.",
        "language": "en-GB",
        "voice": "Polly.Amy",
    }


async def test_a_machine_gets_the_limited_content_voicemail(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.VOICE)
    await publish(settings, [approval("d-v3", "r-vm", table_number("21"), channel=Channel.VOICE)], time=START)
    await tail.wait_for(lambda: final(tail, "r-vm") is not None)

    [call] = await providers.calls(request_id="r-vm")
    assert call["answered_by"] == "machine_end_beep"  # DetectMessageEnd: the message starts after the beep
    [voicemail] = call["spoken"]
    assert voicemail["text"] == (
        "Hello. This is a message for Alex Doe from Example Bank. "
        "Please call us back at +18005550199. Thank you."
    )
    ended = final(tail, "r-vm")
    assert ended is not None and ended.status is OutcomeStatus.VOICEMAIL


@pytest.mark.parametrize(
    ("suffix", "status"),
    [("22", OutcomeStatus.NO_ANSWER), ("23", OutcomeStatus.BUSY), ("24", OutcomeStatus.NOT_CONNECTED)],
)
async def test_unanswered_calls_end_with_their_outcome(
    settings: CommonSettings,
    providers: Providers,
    workers: Workers,
    tail: Tail,
    suffix: str,
    status: OutcomeStatus,
) -> None:
    await workers.start(Channel.VOICE)
    await publish(
        settings, [approval("d-v4", "r-no", table_number(suffix), channel=Channel.VOICE)], time=START
    )
    # The call's final status can reach the topic before the worker's "sent": consumers order by final.
    await tail.wait_for(lambda: final(tail, "r-no") is not None and len(outcomes(tail, "r-no")) == 2)

    ended = final(tail, "r-no")
    assert ended is not None
    assert (ended.status, ended.duration_seconds, ended.cost) == (status, 0, Decimal(0))
    [call] = await providers.calls(request_id="r-no")
    assert call["spoken"] == []
    sent = [o for o in outcomes(tail, "r-no") if not o.final]
    assert [(o.status, o.provider_ref) for o in sent] == [(OutcomeStatus.SENT, call["sid"])]
