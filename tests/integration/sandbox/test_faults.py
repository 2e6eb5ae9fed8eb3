"""Fault injection: Twilio's refusals by destination number, 500s and timeouts before and after the
message exists, counted faults that clear, and the seeded random fault mix."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.integration.sandbox.conftest import START, MakeSandbox, Receiver, Sandbox, eventually

pytestmark = pytest.mark.fault


def fictional(suffix: str) -> str:
    """A number in the reserved 555-01XX range, whose last two digits choose the behaviour."""
    return f"+120255501{suffix}"


@pytest.mark.parametrize(
    ("suffix", "status", "code", "message"),
    [
        ("01", 400, 21211, "The 'To' number +12025550101 is not a valid phone number."),
        ("02", 400, 21610, "Attempt to send to unsubscribed recipient"),
        ("03", 400, 21614, "'To' number +12025550103 is not a valid mobile number"),
        ("04", 400, 21408, None),
        ("05", 429, 20429, "Too Many Requests"),
        ("06", 500, 20500, "An internal server error has occurred"),
    ],
)
async def test_refusals_before_create_store_nothing(
    sandbox: Sandbox, suffix: str, status: int, code: int, message: str | None
) -> None:
    response = await sandbox.send_sms(fictional(suffix))

    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    if message is not None:
        assert body["message"] == message
    assert await sandbox.ledger() == []


async def test_error_after_create_keeps_the_message_and_its_callbacks(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    to = fictional("07")

    response = await sandbox.send_sms(to, StatusCallback=receiver.url("/status?request_id=req-500"))

    assert response.status_code == 500
    assert response.json()["code"] == 20500
    [stored] = await sandbox.ledger()
    assert stored["request_id"] == "req-500"
    assert stored["client_status"] == 500
    # The uncertain send is found by the reconciliation query a worker would make, even at once.
    listed = await sandbox.api.get(
        f"{sandbox.account}/Messages.json", params={"To": to, "DateSent>": START.isoformat()}
    )
    assert [m["sid"] for m in listed.json()["messages"]] == [stored["sid"]]
    hits = await eventually(lambda: len(receiver.at("/status")) == 3 and receiver.at("/status"))
    assert hits[-1].params["MessageStatus"] == "delivered"


async def test_timeout_before_create(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(timeout_response_ms=3000)

    with pytest.raises(httpx.ReadTimeout):
        await sandbox.api.post(
            f"{sandbox.account}/Messages.json",
            data={"To": fictional("08"), "From": "+15550009000", "Body": "hi"},
            timeout=0.3,
        )

    assert await sandbox.ledger() == []
    # A held response is not work in flight: a stepped-clock driver must not wait for it.
    idle = (await sandbox.control.get("/_sandbox/idle")).json()
    assert idle == {"pending_callbacks": 0, "in_flight_requests": 0, "active_sequences": 0}


async def test_timeout_after_create_creates_the_message(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(timeout_response_ms=3000)

    with pytest.raises(httpx.ReadTimeout):
        await sandbox.api.post(
            f"{sandbox.account}/Messages.json",
            data={"To": fictional("09"), "From": "+15550009000", "Body": "hi"},
            timeout=0.3,
        )

    [stored] = await eventually(lambda: _delivered(sandbox))
    assert (stored["fault"], stored["client_status"]) == ("timeout_after_create", None)


async def _delivered(sandbox: Sandbox) -> list[dict[str, object]]:
    ledger = await sandbox.ledger()
    return ledger if ledger and all(m["status"] == "delivered" for m in ledger) else []


async def test_slow_response(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(slow_response_ms=300)
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await sandbox.send_sms(fictional("10"))

    assert response.status_code == 201
    assert loop.time() - started >= 0.3


@pytest.mark.parametrize(("suffix", "code"), [("11", 30003), ("12", 30005), ("13", 30006), ("14", 30007)])
async def test_undelivered_via_callback(sandbox: Sandbox, receiver: Receiver, suffix: str, code: int) -> None:
    response = await sandbox.send_sms(fictional(suffix), StatusCallback=receiver.url("/status"))
    assert response.status_code == 201

    hits = await eventually(lambda: len(receiver.at("/status")) == 3 and receiver.at("/status"))

    assert [hit.params["MessageStatus"] for hit in hits] == ["queued", "sent", "undelivered"]
    assert hits[-1].params["ErrorCode"] == str(code)
    assert "ErrorCode" not in hits[1].params
    fetched = (await sandbox.api.get(f"{sandbox.account}/Messages/{response.json()['sid']}.json")).json()
    assert (fetched["status"], fetched["error_code"]) == ("undelivered", code)
    assert fetched["error_message"]


async def test_once_faults_clear_after_the_first_attempt(sandbox: Sandbox) -> None:
    limited, broken = fictional("15"), fictional("17")

    assert (await sandbox.send_sms(limited)).status_code == 429
    assert (await sandbox.send_sms(limited)).status_code == 201
    assert (await sandbox.send_sms(broken)).status_code == 500
    assert (await sandbox.send_sms(broken)).status_code == 201
    # The sandbox never deduplicates: a blind resend after the 500 made a second message.
    assert Counter(m["to"] for m in await sandbox.ledger()) == {limited: 1, broken: 2}


async def test_faults_set_over_http(sandbox: Sandbox) -> None:
    debtor = "+8613800138000"
    armed = await sandbox.control.post(
        "/_sandbox/faults", json={"numbers": {debtor: {"behaviour": "rate_limited", "times": 2}}}
    )
    assert armed.json()["numbers"][debtor] == {"behaviour": "rate_limited", "times_left": 2}

    statuses = [(await sandbox.send_sms(debtor, "您好")).status_code for _ in range(3)]

    assert statuses == [429, 429, 201]
    always = await sandbox.control.post("/_sandbox/faults", json={"numbers": {debtor: "opted_out"}})
    assert always.status_code == 200
    assert (await sandbox.send_sms(debtor)).json()["code"] == 21610
    await sandbox.control.post("/_sandbox/faults", json={"numbers": {debtor: None}})
    assert (await sandbox.send_sms(debtor)).status_code == 201
    invalid = await sandbox.control.post("/_sandbox/faults", json={"numbers": {debtor: "on_fire"}})
    assert invalid.status_code == 400


async def test_faults_from_settings(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(faults={"+8613900139000": "not_sms_capable"})

    response = await sandbox.send_sms("+8613900139000")

    assert response.json()["code"] == 21614


async def test_random_fault_mix_is_seeded(make_sandbox: MakeSandbox) -> None:
    # Held responses are answered at once here (503 before, 201 after creation), so that no outcome
    # depends on how fast this machine is; the timeouts themselves are tested above.
    sandbox = await make_sandbox(fault_ratio=0.3, seed=11, timeout_response_ms=0)

    async def run() -> list[int]:
        return [(await sandbox.send_sms(f"+1555200{n:04d}")).status_code for n in range(30)]

    first = await run()
    ledger = await sandbox.ledger()
    await sandbox.control.post("/_sandbox/reset")
    second = await run()

    assert first == second
    faults = Counter(m["fault"] for m in ledger)
    faulted = 30 - first.count(201) + faults["timeout_after_create"]
    assert 3 <= faulted <= 18, first
    assert set(first) <= {201, 429, 500, 503}
    # Exactly the creates that succeeded or failed only after creation exist.
    assert len(ledger) == first.count(201) + faults["error_after_create"]
