"""Replayed webhooks: a request Twilio signed, posted again as it was captured (same URL,
parameters and X-Twilio-Signature, without Twilio's idempotency header, which is not signed) is ignored by
every endpoint that emits events: nothing is emitted twice, not even with the same ids.

What tests/integration/channels/test_webhooks.py already covers is not repeated here: missing, wrong or
forged signatures and contexts (403, nothing emitted), Twilio's own retries (same idempotency token), forged
unsubscribe tokens (403) and the body size limit (413).
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from pydantic import BaseModel

from schemas import events as ev
from services.core.settings import CommonSettings
from services.webhooks.app import WebhooksApp
from tests.channels_support import SMS_FROM, START, phone, signed
from tests.integration.channels.test_webhooks import delivered, post, profile, status_path
from tests.support import Tail, publish

CALL_SID = "CA" + "b" * 32


async def replay(hooks: WebhooksApp, path: str, params: dict[str, str], token: str) -> list[int]:
    """Post one signed request twice, byte for byte the same."""
    url = hooks.hooks.base + path
    headers = signed(token, url, params)
    async with httpx.AsyncClient(timeout=10) as client:
        return [(await client.post(url, data=params, headers=headers)).status_code for _ in range(2)]


def emitted(tail: Tail) -> Counter[str]:
    """Records on the topics per event type, duplicates included."""
    return Counter(type(e.event).__name__ for e in tail.events)


def cases(keys: list[str]) -> dict[str, tuple[str, dict[str, str], dict[str, int]]]:
    """endpoint -> (path, parameters, the records its request emits once)."""
    call = {"CallSid": CALL_SID, "From": "+15550009001", "To": phone(21), "AccountSid": "AC" + "0" * 32}
    return {
        "message status": (
            status_path(keys, "r-replay-sms"),
            delivered("r-replay-sms"),
            {"ContactOutcome": 1},
        ),
        "call status": (
            status_path(keys, "r-replay-call", path="/twilio/calls/status", c="voice"),
            {**call, "CallStatus": "completed", "AnsweredBy": "human", "CallDuration": "42"},
            {"ContactOutcome": 1},
        ),
        "keypad 1": (
            status_path(
                keys,
                "r-replay-key",
                path="/twilio/calls/gather",
                c="voice",
                v={"amount_due": "120.50", "currency": "USD"},
            ),
            {**call, "Digits": "1"},
            {"PromiseToPayRecorded": 1, "ContactRequested": 1, "ContactOutcome": 1},
        ),
        "inbound STOP": (
            "/twilio/messages/inbound",
            {"MessageSid": "SM" + "c" * 32, "From": phone(22), "To": SMS_FROM, "Body": "STOP"},
            {"ConsentChanged": 1, "ContactRequested": 1},  # the opt-out and its one confirmation
        ),
    }


@pytest.mark.parametrize("endpoint", ["message status", "call status", "keypad 1", "inbound STOP"])
async def test_a_replayed_signed_request_emits_nothing_again(
    settings: CommonSettings,
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    tail: Tail,
    endpoint: str,
) -> None:
    path, params, once = cases(link_keys)[endpoint]
    if endpoint == "inbound STOP":
        await publish(settings, [profile("d-replay", params["From"])], time=START)
        await tail.wait_for(lambda: len(tail.events) == 1)
    before = emitted(tail)

    assert await replay(webhooks, path, params, tokens[0]) == [200, 200]
    # A later request of its own: once it is on the topics, so is anything the replay emitted.
    marker = await post(webhooks, status_path(link_keys, "r-marker"), delivered("r-marker"), tokens[0])
    assert marker.status_code == 200
    await tail.wait_for(lambda: _outcomes(tail, "r-marker"))
    await tail.settle()

    after = emitted(tail) - before
    after["ContactOutcome"] -= 1  # the marker's
    assert +after == Counter(once)
    duplicates = webhooks.registry.get_sample_value(
        "collections_webhooks_duplicates_total", {"endpoint": _metric_endpoint(path)}
    )
    assert duplicates == 1


def _outcomes(tail: Tail, request_id: str) -> list[BaseModel]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


def _metric_endpoint(path: str) -> str:
    return {
        "/twilio/messages/status": "message_status",
        "/twilio/calls/status": "call_status",
        "/twilio/calls/gather": "gather",
        "/twilio/messages/inbound": "inbound",
    }[path.split("?")[0]]
