"""Inbound SMS injected as a signed webhook, and the control endpoints: idle, reset, health."""

from __future__ import annotations

import pytest

from tests.integration.sandbox.conftest import SENDER, MakeSandbox, Receiver, Sandbox, eventually

DEBTOR = "+8613800138000"


@pytest.mark.parametrize("body", ["STOP", "退订", "TD", "START", "HELP", " pls stop texting me "])
async def test_inbound_sms_is_a_signed_webhook(sandbox: Sandbox, receiver: Receiver, body: str) -> None:
    response = await sandbox.control.post(
        "/_sandbox/inbound", json={"From": DEBTOR, "To": SENDER, "Body": body}
    )

    assert response.status_code == 200
    result = response.json()
    assert result["webhook_status"] == 200
    [hit] = receiver.at("/inbound")
    assert hit.signature_valid
    assert hit.params == {
        "AccountSid": sandbox.settings.account_sid,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": DEBTOR,
        "MessageSid": result["message_sid"],
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": result["message_sid"],
        "SmsSid": result["message_sid"],
        "SmsStatus": "received",
        "To": SENDER,
    }
    [stored] = await sandbox.ledger()
    assert (stored["direction"], stored["status"], stored["body"]) == ("inbound", "received", body)


async def test_inbound_twiml_reply_is_recorded(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.reply("/inbound", "<Response><Message>Reply STOP to opt out.</Message></Response>")

    result = (
        await sandbox.control.post("/_sandbox/inbound", data={"From": DEBTOR, "To": SENDER, "Body": "HELP"})
    ).json()

    [reply_sid] = result["reply_sids"]
    reply = next(m for m in await sandbox.ledger() if m["sid"] == reply_sid)
    assert (reply["direction"], reply["to"], reply["body"]) == (
        "outbound-reply",
        DEBTOR,
        "Reply STOP to opt out.",
    )


async def test_inbound_url_override_and_validation(sandbox: Sandbox, receiver: Receiver) -> None:
    overridden = await sandbox.control.post(
        "/_sandbox/inbound",
        json={"From": DEBTOR, "To": SENDER, "Body": "STOP", "Url": receiver.url("/other")},
    )
    missing = await sandbox.control.post("/_sandbox/inbound", json={"From": DEBTOR, "To": SENDER})

    assert overridden.json()["webhook_status"] == 200
    assert len(receiver.at("/other")) == 1
    assert missing.status_code == 400


async def test_callbacks_go_to_loopback_only(sandbox: Sandbox) -> None:
    await sandbox.send_sms("+15551230000", StatusCallback="http://203.0.113.10/status?request_id=r")

    [message] = await eventually(lambda: _with_callbacks(sandbox, 3))

    assert {callback["error"] for callback in message["callbacks"]} == {"callback host not allowed"}


async def _with_callbacks(sandbox: Sandbox, count: int) -> list[dict[str, object]]:
    ledger = await sandbox.ledger()
    return ledger if ledger and len(ledger[0]["callbacks"]) == count else []


async def test_idle_reports_outstanding_work(make_sandbox: MakeSandbox, receiver: Receiver) -> None:
    sandbox = await make_sandbox(callback_delay_ms=200)

    await sandbox.send_sms("+15551230000", StatusCallback=receiver.url("/status"))

    busy = (await sandbox.control.get("/_sandbox/idle")).json()
    assert busy["active_sequences"] == 1
    idle = await eventually(lambda: _idle_state(sandbox))
    assert idle == {"pending_callbacks": 0, "in_flight_requests": 0, "active_sequences": 0}
    assert len(receiver.at("/status")) == 3


async def _idle_state(sandbox: Sandbox) -> dict[str, int] | None:
    state: dict[str, int] = (await sandbox.control.get("/_sandbox/idle")).json()
    return None if any(state.values()) else state


async def test_reset_clears_everything(sandbox: Sandbox, receiver: Receiver) -> None:
    await sandbox.control.post(
        "/_sandbox/faults", json={"numbers": {DEBTOR: "opted_out"}, "fault_ratio": 0.5}
    )
    await sandbox.control.post("/_sandbox/mail/faults", json={"recipients": {"a@example.com": {"code": 550}}})
    await sandbox.send_sms("+15551230000", StatusCallback=receiver.url("/status"))

    response = await sandbox.control.post("/_sandbox/reset")

    assert response.status_code == 200
    assert await sandbox.ledger() == []
    faults = (await sandbox.control.get("/_sandbox/faults")).json()
    assert (faults["numbers"], faults["fault_ratio"]) == ({}, 0.0)
    assert (await sandbox.control.get("/_sandbox/mail/faults")).json() == {"recipients": {}}
    assert await _idle_state(sandbox) is not None


async def test_fault_table_is_published(sandbox: Sandbox) -> None:
    table = (await sandbox.control.get("/_sandbox/faults")).json()["table"]

    assert table["*5550102"] == {"behaviour": "opted_out", "times": None}
    assert table["*5550117"] == {"behaviour": "error_after_create", "times": 1}


async def test_healthz(sandbox: Sandbox) -> None:
    response = await sandbox.control.get("/healthz")

    assert response.json() == {"status": "ok"}
