"""Inbound SMS injected as a signed webhook; the control endpoints (idle, reset, health), each behind the
admin token; callbacks to allowed hosts only, never following a redirect elsewhere."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from services.sandbox.settings import SandboxSettings
from tests.channels_support import admin
from tests.integration.sandbox.conftest import (
    SENDER,
    MakeSandbox,
    Receiver,
    Sandbox,
    eventually,
    serve_receiver,
)

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


CONTROL_ENDPOINTS = [
    ("GET", "/_sandbox/messages"),
    ("GET", "/_sandbox/calls"),
    ("POST", "/_sandbox/calls/CA00000000000000000000000000000000/digits"),
    ("POST", "/_sandbox/calls/CA00000000000000000000000000000000/silence"),
    ("POST", "/_sandbox/inbound"),
    ("GET", "/_sandbox/faults"),
    ("POST", "/_sandbox/faults"),
    ("GET", "/_sandbox/idle"),
    ("POST", "/_sandbox/reset"),
    ("GET", "/_sandbox/mail"),
    ("GET", "/_sandbox/mail/faults"),
    ("POST", "/_sandbox/mail/faults"),
    ("GET", "/_sandbox/mail/mail-1/raw"),
]


@pytest.mark.parametrize(("method", "path"), CONTROL_ENDPOINTS)
async def test_every_control_endpoint_needs_the_admin_token(
    sandbox: Sandbox, tokens: list[str], method: str, path: str
) -> None:
    twilio = httpx.BasicAuth(sandbox.settings.account_sid, tokens[0])
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as stranger:
        refused = [
            await stranger.request(method, path),
            await stranger.request(method, path, headers=admin("not-the-admin-token")),
            await stranger.request(method, path, headers=admin(tokens[0])),  # a Twilio token is not it
            await stranger.request(method, path, auth=twilio),
        ]

    assert [response.status_code for response in refused] == [401] * 4
    assert all(response.headers["WWW-Authenticate"].startswith("Bearer") for response in refused)
    assert (await sandbox.control.get("/healthz")).status_code == 200


async def test_without_the_admin_token_nothing_is_injected_or_changed(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as stranger:
        injected = await stranger.post(
            "/_sandbox/inbound", json={"From": DEBTOR, "To": SENDER, "Body": "STOP"}
        )
        faulted = await stranger.post("/_sandbox/faults", json={"numbers": {DEBTOR: "opted_out"}})

    assert (injected.status_code, faulted.status_code) == (401, 401)
    assert receiver.hits == []
    assert await sandbox.ledger() == []
    assert (await sandbox.control.get("/_sandbox/faults")).json()["numbers"] == {}


def test_the_admin_token_is_required_and_is_not_a_twilio_token(tokens: list[str]) -> None:
    with pytest.raises(ValidationError, match="admin_token"):
        SandboxSettings(auth_tokens=[SecretStr(tokens[0])])
    with pytest.raises(ValidationError, match="admin_token must not be one of the auth_tokens"):
        SandboxSettings(auth_tokens=[SecretStr(tokens[0])], admin_token=SecretStr(tokens[0]))


async def test_callbacks_never_follow_redirects(
    make_sandbox: MakeSandbox, receiver: Receiver, tokens: list[str]
) -> None:
    # 127.0.0.2 is this machine too, but not an allowed callback host.
    async with serve_receiver(tokens[0], host="127.0.0.2") as elsewhere:
        receiver.redirect("/status", elsewhere.url("/stolen"))
        receiver.redirect("/inbound", elsewhere.url("/stolen"), status=302)
        sandbox = await make_sandbox()

        await sandbox.send_sms("+15551230000", StatusCallback=receiver.url("/status"))
        [message] = await eventually(lambda: _with_callbacks(sandbox, 3))
        inbound = await sandbox.control.post(
            "/_sandbox/inbound", json={"From": DEBTOR, "To": SENDER, "Body": "STOP"}
        )

        assert len(receiver.at("/status")) == 3 and len(receiver.at("/inbound")) == 1
        assert elsewhere.hits == []
    assert {(c["http_status"], c["error"]) for c in message["callbacks"]} == {(307, "redirect not followed")}
    assert (inbound.json()["webhook_status"], inbound.json()["webhook_error"]) == (
        302,
        "redirect not followed",
    )
