"""Every field the webhooks read is bounded as Twilio documents it. A signed request with a field out of
bounds gets 400 and one warning naming the field, never its value, and emits nothing; a field at its bound
is accepted."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from multidict import MultiDict
from pydantic import BaseModel

from services.webhooks.app import WebhooksApp
from tests.channels_support import SMS_FROM, VARIABLES, phone, signed
from tests.integration.channels.test_webhooks import status_path

MESSAGE_SID = "SM" + "a" * 32
CALL_SID = "CA" + "b" * 32
LONG = "9" * 10_000

MESSAGE = {"MessageSid": MESSAGE_SID, "MessageStatus": "delivered", "To": phone(40), "From": SMS_FROM}
CALL = {"CallSid": CALL_SID, "CallStatus": "completed", "To": phone(41), "From": "+15550009001"}
INBOUND = {"MessageSid": MESSAGE_SID, "From": phone(42), "To": SMS_FROM, "Body": "hello"}

# (endpoint, the field out of bounds, the form)
OUT_OF_BOUNDS: list[tuple[str, str, dict[str, str]]] = [
    ("message_status", "MessageSid", {**MESSAGE, "MessageSid": "SM" + "f" * 9998}),
    ("message_status", "MessageSid", {**MESSAGE, "MessageSid": "XX" + "a" * 32}),
    ("message_status", "MessageSid", {**MESSAGE, "MessageSid": "SM" + "g" * 32}),
    ("message_status", "MessageSid", {k: v for k, v in MESSAGE.items() if k != "MessageSid"}),
    ("message_status", "MessageStatus", {**MESSAGE, "MessageStatus": "delivered-to-the-moon"}),
    ("message_status", "To", {**MESSAGE, "To": "+1" + "4" * 15}),
    ("message_status", "To", {**MESSAGE, "To": "sip:someone@example.com"}),
    ("message_status", "From", {**MESSAGE, "From": LONG}),
    ("message_status", "ErrorCode", {**MESSAGE, "MessageStatus": "undelivered", "ErrorCode": "300070"}),
    ("message_status", "ErrorCode", {**MESSAGE, "MessageStatus": "undelivered", "ErrorCode": "30x07"}),
    ("message_status", "AccountSid", {**MESSAGE, "AccountSid": "AC" + "0" * 9998}),
    ("call_status", "CallSid", {**CALL, "CallSid": "CA" + "b" * 9998}),
    ("call_status", "CallSid", {**CALL, "CallSid": MESSAGE_SID}),
    ("call_status", "CallStatus", {**CALL, "CallStatus": "exploded"}),
    ("call_status", "AnsweredBy", {**CALL, "AnsweredBy": "robot"}),
    ("call_status", "CallDuration", {**CALL, "CallDuration": LONG}),
    ("call_status", "CallDuration", {**CALL, "CallDuration": "forty"}),
    ("call_status", "ErrorCode", {**CALL, "CallStatus": "failed", "ErrorCode": LONG}),
    ("gather", "Digits", {**CALL, "Digits": "12"}),
    ("gather", "Digits", {**CALL, "Digits": "1" * 10_000}),
    ("gather", "Called", {**CALL, "Digits": "1", "Called": LONG}),
    ("answer", "AnsweredBy", {**CALL, "AnsweredBy": "machine_" + "x" * 100}),
    ("inbound", "Body", {**INBOUND, "Body": "STOP " + "x" * 1596}),
    ("inbound", "From", {**INBOUND, "From": LONG}),
    ("inbound", "From", {k: v for k, v in INBOUND.items() if k != "From"}),
    ("inbound", "MessageSid", {**INBOUND, "MessageSid": "SM" + "c" * 9998}),
]
# (endpoint, the field at its bound, the form)
AT_THE_BOUND: list[tuple[str, str, dict[str, str]]] = [
    ("message_status", "To", {**MESSAGE, "To": "+1" + "4" * 14}),
    ("message_status", "ErrorCode", {**MESSAGE, "MessageStatus": "undelivered", "ErrorCode": "30007"}),
    ("call_status", "CallDuration", {**CALL, "CallDuration": "86400"}),
    ("gather", "Digits", {**CALL, "Digits": "#"}),
    ("inbound", "Body", {**INBOUND, "Body": "x" * 1600}),
]
PATHS = {
    "message_status": "/twilio/messages/status",
    "call_status": "/twilio/calls/status",
    "answer": "/twilio/calls/answer",
    "gather": "/twilio/calls/gather",
}


class Counting:
    """Stands in for the service's publish: counts what would have been emitted."""

    def __init__(self, webhooks: WebhooksApp) -> None:
        self.events: list[BaseModel] = []
        self._publish = webhooks.hooks.publish
        webhooks.hooks.publish = self

    async def __call__(self, events: list[tuple[BaseModel, str]]) -> None:
        self.events.extend(event for event, _ in events)
        await self._publish(events)


def path_of(endpoint: str, keys: list[str], request_id: str) -> str:
    if endpoint == "inbound":
        return "/twilio/messages/inbound"
    channel = "sms" if endpoint == "message_status" else "voice"
    variables = {**VARIABLES, "company": "Example Bank", "callback_number": "+18005550199"}
    return status_path(keys, request_id, path=PATHS[endpoint], c=channel, t="reminder", v=variables)


async def post_signed(
    webhooks: WebhooksApp, path: str, form: Any, token: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    url = webhooks.hooks.base + path
    params = MultiDict(form)
    sent = {
        "Content-Type": "application/x-www-form-urlencoded",
        **signed(token, url, params),
        **(headers or {}),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, content=urlencode(list(params.items())), headers=sent)


def webhook_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("services.webhooks") and record.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize(
    ("endpoint", "field", "form"),
    OUT_OF_BOUNDS,
    ids=[f"{endpoint}-{field}-{i}" for i, (endpoint, field, _) in enumerate(OUT_OF_BOUNDS)],
)
async def test_a_field_out_of_bounds_is_refused_naming_the_field(
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    caplog: pytest.LogCaptureFixture,
    endpoint: str,
    field: str,
    form: dict[str, str],
) -> None:
    emitted = Counting(webhooks)
    caplog.set_level(logging.INFO)

    response = await post_signed(webhooks, path_of(endpoint, link_keys, "r-bounds"), form, tokens[0])

    assert response.status_code == 400
    assert field in response.text
    assert emitted.events == []
    [warning] = webhook_warnings(caplog)
    assert endpoint in warning and field in warning and "\n" not in warning
    value = form.get(field, "")
    if len(value) >= 5:  # shorter ones could match anything, a line number
        assert value not in caplog.text and value[:12] not in caplog.text
    assert "Traceback" not in caplog.text
    malformed = webhooks.registry.get_sample_value(
        "collections_webhooks_malformed_requests_total", {"endpoint": endpoint}
    )
    assert malformed == 1


async def test_a_field_given_twice_is_refused(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    emitted = Counting(webhooks)
    caplog.set_level(logging.INFO)
    form = [*MESSAGE.items(), ("To", phone(43))]

    response = await post_signed(webhooks, path_of("message_status", link_keys, "r-twice"), form, tokens[0])

    assert response.status_code == 400
    assert emitted.events == []
    [warning] = webhook_warnings(caplog)
    assert "To" in warning and phone(43) not in caplog.text


async def test_an_over_long_idempotency_token_is_refused(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    emitted = Counting(webhooks)
    caplog.set_level(logging.INFO)
    token = "idem-" + "z" * 300

    response = await post_signed(
        webhooks,
        path_of("message_status", link_keys, "r-idem"),
        MESSAGE,
        tokens[0],
        headers={"I-Twilio-Idempotency-Token": token},
    )

    assert response.status_code == 400
    assert emitted.events == []
    [warning] = webhook_warnings(caplog)
    assert "I-Twilio-Idempotency-Token" in warning and "zzzzzzzz" not in caplog.text


@pytest.mark.parametrize(
    ("endpoint", "field", "form"),
    AT_THE_BOUND,
    ids=[f"{endpoint}-{field}" for endpoint, field, _ in AT_THE_BOUND],
)
async def test_a_field_at_its_bound_is_accepted(
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    endpoint: str,
    field: str,
    form: dict[str, str],
) -> None:
    response = await post_signed(webhooks, path_of(endpoint, link_keys, f"r-at-{field}"), form, tokens[0])

    assert response.status_code == 200, response.text
