"""Calls over Twilio's REST protocol: progress callbacks, answering-machine detection, the TwiML fetch
and a keypad (Gather) flow driven through the sandbox's digits endpoint."""

from __future__ import annotations

import re

import pytest

from tests.integration.sandbox.conftest import (
    SENDER,
    START_RFC2822,
    MakeSandbox,
    Receiver,
    Sandbox,
    eventually,
)

DEBTOR = "+15551230000"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
SAY = '<Response><Say language="en-US" voice="Polly.Joanna">This is your bank.</Say></Response>'


async def test_create_call_fields_and_progress_callbacks(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.reply("/voice", SAY)

    response = await sandbox.call(
        DEBTOR,
        Url=receiver.url("/voice"),
        StatusCallback=receiver.url("/call-status?request_id=req-c1"),
        StatusCallbackEvent=ALL_EVENTS,
    )

    assert response.status_code == 201
    call = response.json()
    assert re.fullmatch(r"CA[0-9a-f]{32}", call["sid"])
    assert {key: call[key] for key in ("status", "to", "from", "direction", "answered_by", "duration")} == {
        "status": "queued",
        "to": DEBTOR,
        "from": SENDER,
        "direction": "outbound-api",
        "answered_by": None,
        "duration": None,
    }
    assert call["date_created"] == START_RFC2822
    assert call["uri"] == f"{sandbox.account}/Calls/{call['sid']}.json"
    hits = await eventually(lambda: len(receiver.at("/call-status")) == 4 and receiver.at("/call-status"))
    assert [hit.params["CallStatus"] for hit in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert [hit.params["SequenceNumber"] for hit in hits] == ["0", "1", "2", "3"]
    assert all(hit.signature_valid for hit in hits)
    assert int(hits[-1].params["CallDuration"]) > 0
    [fetch] = receiver.at("/voice")
    assert fetch.signature_valid
    assert (fetch.params["CallSid"], fetch.params["CallStatus"]) == (call["sid"], "in-progress")
    record = await sandbox.call_record(call["sid"])
    assert record["request_id"] == "req-c1"
    assert record["spoken"] == [{"text": "This is your bank.", "language": "en-US", "voice": "Polly.Joanna"}]
    fetched = (await sandbox.api.get(f"{sandbox.account}/Calls/{call['sid']}.json")).json()
    assert fetched["status"] == "completed"
    assert fetched["start_time"] == START_RFC2822
    assert fetched["price"].startswith("-")


async def test_without_events_only_the_final_state_is_reported(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.reply("/voice", SAY)

    await sandbox.call(DEBTOR, Url=receiver.url("/voice"), StatusCallback=receiver.url("/call-status"))

    await eventually(lambda: receiver.at("/call-status"))
    await eventually(lambda: _idle(sandbox))
    assert [hit.params["CallStatus"] for hit in receiver.at("/call-status")] == ["completed"]


async def _idle(sandbox: Sandbox) -> bool:
    idle = (await sandbox.control.get("/_sandbox/idle")).json()
    return not any(idle.values())


@pytest.mark.parametrize(
    ("to", "statuses"),
    [
        ("+12025550122", ["initiated", "ringing", "no-answer"]),
        ("+12025550123", ["initiated", "busy"]),
        ("+12025550124", ["failed"]),
    ],
)
async def test_unanswered_calls(sandbox: Sandbox, receiver: Receiver, to: str, statuses: list[str]) -> None:
    response = await sandbox.call(
        to,
        Url=receiver.url("/voice"),
        StatusCallback=receiver.url("/call-status"),
        StatusCallbackEvent=ALL_EVENTS,
    )

    hits = await eventually(
        lambda: len(receiver.at("/call-status")) == len(statuses) and receiver.at("/call-status")
    )
    assert [hit.params["CallStatus"] for hit in hits] == statuses
    assert hits[-1].params["CallDuration"] == "0"
    assert receiver.at("/voice") == []
    fetched = (await sandbox.api.get(f"{sandbox.account}/Calls/{response.json()['sid']}.json")).json()
    assert fetched["status"] == statuses[-1]


@pytest.mark.parametrize(
    ("to", "detection", "answered_by"),
    [
        ("+12025550121", "DetectMessageEnd", "machine_end_beep"),
        ("+12025550121", "Enable", "machine_start"),
        ("+12025550120", "DetectMessageEnd", "human"),
    ],
)
async def test_answering_machine_detection(
    sandbox: Sandbox, receiver: Receiver, to: str, detection: str, answered_by: str
) -> None:
    receiver.reply("/voice", SAY)

    response = await sandbox.call(
        to,
        Url=receiver.url("/voice"),
        StatusCallback=receiver.url("/call-status"),
        MachineDetection=detection,
    )

    [final] = await eventually(lambda: receiver.at("/call-status"))
    assert final.params["AnsweredBy"] == answered_by
    assert receiver.at("/voice")[0].params["AnsweredBy"] == answered_by
    fetched = (await sandbox.api.get(f"{sandbox.account}/Calls/{response.json()['sid']}.json")).json()
    assert fetched["answered_by"] == answered_by


async def test_async_amd_posts_its_own_callback(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.reply("/voice", SAY)

    await sandbox.call(
        "+12025550121",
        Url=receiver.url("/voice"),
        MachineDetection="DetectMessageEnd",
        AsyncAmd="true",
        AsyncAmdStatusCallback=receiver.url("/amd"),
    )

    [amd] = await eventually(lambda: receiver.at("/amd"))
    assert amd.signature_valid
    assert amd.params["AnsweredBy"] == "machine_end_beep"
    assert "AnsweredBy" not in (await eventually(lambda: receiver.at("/voice")))[0].params


@pytest.mark.parametrize(
    ("digits", "action_twiml", "dialed"),
    [
        ("1", "<Response><Say>Thank you, a payment link is on its way.</Say><Hangup/></Response>", []),
        ("2", "<Response><Dial><Number>+15550008888</Number></Dial></Response>", ["+15550008888"]),
    ],
)
async def test_keypad_input_reaches_the_gather_action(
    make_sandbox: MakeSandbox, receiver: Receiver, digits: str, action_twiml: str, dialed: list[str]
) -> None:
    sandbox = await make_sandbox(gather_wait_ms=5000)
    receiver.reply(
        "/voice",
        '<Response><Gather numDigits="1" action="/gather?request_id=req-g">'
        '<Say language="zh-CN" voice="Polly.Zhiyu">按1付款，按2转人工。</Say></Gather>'
        "<Say>Goodbye.</Say></Response>",
    )
    receiver.reply("/gather", action_twiml)
    sid = (
        await sandbox.call(
            DEBTOR,
            Url=receiver.url("/voice"),
            StatusCallback=receiver.url("/call-status"),
            StatusCallbackEvent=ALL_EVENTS,
        )
    ).json()["sid"]
    await eventually(lambda: _awaiting_input(sandbox, sid))

    pressed = await sandbox.control.post(f"/_sandbox/calls/{sid}/digits", data={"Digits": digits})

    assert pressed.status_code == 200
    assert pressed.json() == {
        "call_sid": sid,
        "digits": digits,
        "action_url": receiver.url("/gather?request_id=req-g"),
        "http_status": 200,
    }
    [gather] = receiver.at("/gather")
    assert gather.signature_valid
    assert (gather.params["Digits"], gather.params["CallSid"]) == (digits, sid)
    hits = await eventually(lambda: len(receiver.at("/call-status")) == 4 and receiver.at("/call-status"))
    assert hits[-1].params["CallStatus"] == "completed"
    record = await sandbox.call_record(sid)
    assert record["digits"] == [digits]
    assert record["dialed"] == dialed
    assert record["spoken"][0]["text"] == "按1付款，按2转人工。"
    late = await sandbox.control.post(f"/_sandbox/calls/{sid}/digits", data={"Digits": "1"})
    assert late.status_code == 409


async def _awaiting_input(sandbox: Sandbox, sid: str) -> bool:
    return bool((await sandbox.call_record(sid))["awaiting_input"])


async def test_gather_times_out_without_input(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.reply("/voice", '<Response><Gather action="/gather"><Say>Press 1</Say></Gather></Response>')

    await sandbox.call(DEBTOR, Url=receiver.url("/voice"), StatusCallback=receiver.url("/call-status"))

    await eventually(lambda: receiver.at("/call-status"))
    assert receiver.at("/gather") == []


async def test_silence_ends_the_gather_at_once_as_a_timeout(
    make_sandbox: MakeSandbox, receiver: Receiver
) -> None:
    sandbox = await make_sandbox(gather_wait_ms=60_000)  # a minute: only the silence endpoint ends it in time
    receiver.reply(
        "/voice",
        '<Response><Gather action="/gather"><Say>Press 1</Say></Gather><Say>Goodbye.</Say></Response>',
    )
    sid = (await sandbox.call(DEBTOR, Url=receiver.url("/voice"))).json()["sid"]
    await eventually(lambda: _awaiting_input(sandbox, sid))

    silent = await sandbox.control.post(f"/_sandbox/calls/{sid}/silence")

    assert silent.status_code == 200
    assert silent.json() == {"call_sid": sid, "digits": ""}
    record = await eventually(lambda: _completed(sandbox, sid), timeout=10)
    assert record["digits"] == []
    assert [said["text"] for said in record["spoken"]] == ["Press 1", "Goodbye."]
    assert receiver.at("/gather") == []
    again = await sandbox.control.post(f"/_sandbox/calls/{sid}/silence")
    assert again.status_code == 409


async def test_inline_twiml(sandbox: Sandbox) -> None:
    sid = (await sandbox.call(DEBTOR, Twiml="<Response><Say>Hello</Say></Response>")).json()["sid"]

    record = await eventually(lambda: _completed(sandbox, sid))

    assert record["spoken"] == [{"text": "Hello"}]


async def _completed(sandbox: Sandbox, sid: str) -> dict[str, object] | None:
    record = await sandbox.call_record(sid)
    return record if record["status"] == "completed" else None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": SENDER, "Url": "http://127.0.0.1:9/v"}, 21201),
        ({"To": DEBTOR, "Url": "http://127.0.0.1:9/v"}, 21213),
        ({"To": DEBTOR, "From": SENDER}, 21205),
        ({"To": "+12025550104", "From": SENDER, "Url": "http://127.0.0.1:9/v"}, 21215),
    ],
)
async def test_call_refusals(sandbox: Sandbox, data: dict[str, str], code: int) -> None:
    response = await sandbox.api.post(f"{sandbox.account}/Calls.json", data=data)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert await sandbox.calls() == []


async def test_list_calls_by_to_and_start_time(sandbox: Sandbox) -> None:
    for to in (DEBTOR, DEBTOR, "+15551239999"):
        await sandbox.call(to, Twiml="<Response><Hangup/></Response>")
    await eventually(lambda: _idle(sandbox))
    url = f"{sandbox.account}/Calls.json"

    listed = (await sandbox.api.get(url, params={"To": DEBTOR, "StartTime": "2026-03-02"})).json()
    later = (await sandbox.api.get(url, params={"To": DEBTOR, "StartTime>": "2026-03-03"})).json()

    assert [call["to"] for call in listed["calls"]] == [DEBTOR, DEBTOR]
    assert listed["calls"][0]["status"] == "completed"
    assert later["calls"] == []
