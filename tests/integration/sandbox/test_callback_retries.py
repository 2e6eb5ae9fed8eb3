"""Status callbacks that fail are sent again, as Twilio does with a connection override: while the webhook
service is down (refused connections) or answers 5xx, the callback stays pending work at ``/_sandbox/idle``,
so a stepped-clock driver does not move simulated time on; it arrives once the service is back, with the
same idempotency token. As at Twilio, the message itself moves on meanwhile: its status (what a GET of the
message answers) does not wait for its callbacks. A 4xx is not retried, and retries end after their bound."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from devtools.localkafka import free_port
from tests.integration.sandbox.conftest import MakeSandbox, Receiver, Sandbox, eventually

DEBTOR = "+15551230000"
OTHER = "+15551230001"


@contextlib.asynccontextmanager
async def listening(receiver: Receiver, port: int) -> AsyncIterator[None]:
    """``receiver``'s handler served on ``port``: the webhook service coming (back) up at its address."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def pending(sandbox: Sandbox) -> int:
    return int((await sandbox.control.get("/_sandbox/idle")).json()["pending_callbacks"])


async def settled(sandbox: Sandbox) -> bool:
    return await pending(sandbox) == 0


async def test_a_refused_callback_stays_pending_until_the_webhooks_are_back(
    make_sandbox: MakeSandbox, receiver: Receiver
) -> None:
    sandbox = await make_sandbox(callback_retry_ms=20, callback_retry_max_ms=100, callback_retries=200)
    port = free_port()  # nothing listens there yet: every attempt is refused

    await sandbox.send_sms(DEBTOR, StatusCallback=f"http://127.0.0.1:{port}/down?request_id=req-down")
    await sandbox.send_sms(OTHER, StatusCallback=receiver.url("/up?request_id=req-up"))

    # The other message's whole lifecycle went by meanwhile; the refused one went through its statuses too,
    # while each of its three callbacks is refused, retried, and still pending.
    await eventually(lambda: len(receiver.at("/up")) == 3)
    assert await eventually(lambda: _pending_is(sandbox, 3))
    by_request = {m["request_id"]: m for m in await sandbox.ledger()}
    assert (by_request["req-down"]["status"], by_request["req-down"]["callbacks"]) == ("delivered", [])
    async with listening(receiver, port):
        await eventually(lambda: len(receiver.at("/down")) == 3)
        await eventually(lambda: settled(sandbox))
    # Retried apart, they may arrive in another order (the webhooks keep the most advanced status).
    assert sorted(hit.params["MessageStatus"] for hit in receiver.at("/down")) == [
        "delivered",
        "queued",
        "sent",
    ]
    assert all(hit.signature_valid for hit in receiver.hits)
    by_request = {m["request_id"]: m for m in await sandbox.ledger()}
    callbacks = sorted(by_request["req-down"]["callbacks"], key=lambda c: str(c["status"]))
    assert [(c["status"], c["http_status"], c["error"]) for c in callbacks] == [
        ("delivered", 200, None),
        ("queued", 200, None),
        ("sent", 200, None),
    ]
    assert all(c["attempts"] > 1 for c in callbacks)  # each was refused at least once


async def test_a_5xx_is_retried_with_the_same_idempotency_token_a_4xx_is_not(
    make_sandbox: MakeSandbox, receiver: Receiver
) -> None:
    sandbox = await make_sandbox(callback_retry_ms=10, callback_retry_max_ms=10, callback_retries=3)
    receiver.reply("/busy", "", status=503)
    receiver.reply("/gone", "", status=404)

    await sandbox.send_sms(DEBTOR, StatusCallback=receiver.url("/busy?request_id=req-503"))
    await sandbox.send_sms(OTHER, StatusCallback=receiver.url("/gone?request_id=req-404"))

    await eventually(lambda: len(receiver.at("/busy")) == 3 * 4 and len(receiver.at("/gone")) == 3)
    await eventually(lambda: settled(sandbox))
    tokens: dict[str, set[str]] = {}
    for hit in receiver.at("/busy"):
        tokens.setdefault(hit.params["MessageStatus"], set()).add(hit.headers["I-Twilio-Idempotency-Token"])
    assert {status: len(sent) for status, sent in tokens.items()} == {"queued": 1, "sent": 1, "delivered": 1}
    assert len(set.union(*tokens.values())) == 3  # one token per callback, the same on each of its 4 attempts
    by_request = {m["request_id"]: m["callbacks"] for m in await sandbox.ledger()}
    assert [(c["http_status"], c["attempts"]) for c in by_request["req-503"]] == [(503, 4)] * 3  # given up
    assert [(c["http_status"], c["attempts"]) for c in by_request["req-404"]] == [(404, 1)] * 3


async def _pending_is(sandbox: Sandbox, count: int) -> bool:
    return await pending(sandbox) == count
