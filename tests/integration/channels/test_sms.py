"""The SMS worker on the real broker against the Twilio sandbox over HTTP, with the webhooks service taking
the sandbox's signed callbacks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from schemas import events as ev
from schemas.topics import DISPATCH
from schemas.vocab import Channel, FailureKind, OutcomeStatus
from services.channels.errors import AuthenticationError
from services.core.runtime import clients
from services.core.settings import DEPLOY_DIR, CommonSettings
from services.messaging.templates import TemplateBook
from tests.channels_support import (
    SMS_FROM,
    START,
    VARIABLES,
    Providers,
    approval,
    eventually,
    phone,
    table_number,
)
from tests.integration.channels.conftest import Workers
from tests.support import Tail, publish

PRICE = Decimal("0.0079")


def outcomes(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


def finals(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in outcomes(tail, request_id) if o.final]


async def test_approved_sms_reaches_the_sandbox_once_and_its_callbacks_become_outcomes(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.SMS)
    to = phone(1)
    await publish(settings, [approval("d1", "r-sms-1", to)], time=START)

    # The worker writes "sent", the webhooks service "delivered": two producers, either may land first.
    await tail.wait_for(lambda: len(outcomes(tail, "r-sms-1")) == 2)

    [message] = await providers.messages(request_id="r-sms-1")
    expected = TemplateBook.load(DEPLOY_DIR / "templates").render(
        Channel.SMS,
        "reminder",
        "en-US",
        {**VARIABLES, "company": "Example Bank", "callback_number": "+18005550199"},
    )
    assert (message["to"], message["from"], message["body"]) == (to, SMS_FROM, expected.parts["body"])
    assert message["client_status"] == 201
    assert message["status_callback"].startswith(f"{workers.webhooks.hooks.base}/twilio/messages/status?")
    assert [c["status"] for c in message["callbacks"]] == ["queued", "sent", "delivered"]
    assert all(c["http_status"] == 200 for c in message["callbacks"])
    sent, delivered = sorted(outcomes(tail, "r-sms-1"), key=lambda o: o.final)
    assert (sent.status, sent.final, sent.provider) == (OutcomeStatus.SENT, False, "twilio")
    assert (sent.provider_ref, sent.segments, sent.cost) == (message["sid"], 1, PRICE)
    assert sent.cost_currency == "USD"
    assert (sent.debtor_id, sent.account_id) == ("d1", "acc-d1")
    assert (sent.strategy, sent.arm) == ("default", "champion")
    assert (delivered.status, delivered.final, delivered.provider_ref) == (
        OutcomeStatus.DELIVERED,
        True,
        message["sid"],
    )
    assert delivered.debtor_id == "d1" and delivered.account_id == "acc-d1"


async def test_a_chinese_sms_is_ucs2_and_costs_its_segments(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.SMS)
    chinese = approval("d2", "r-zh", phone(2), language="zh-CN", variables={**VARIABLES, "name": "王小明"})
    await publish(settings, [chinese], time=START)

    await tail.wait_for(lambda: len(outcomes(tail, "r-zh")) == 2)

    [message] = await providers.messages(request_id="r-zh")
    assert message["body"].startswith("【Example Bank】王小明您好") and message["body"].endswith("回复TD退订")
    sent = next(o for o in outcomes(tail, "r-zh") if o.status is OutcomeStatus.SENT)
    assert sent.segments == int(message["num_segments"]) == 2
    assert sent.cost == 2 * PRICE


async def test_provider_refusals_end_as_permanent_outcomes_and_21610_opts_out(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    app, _ = await workers.start(Channel.SMS)
    opted_out, invalid = table_number("02"), table_number("01")
    await publish(
        settings,
        [approval("d3", "r-21610", opted_out), approval("d4", "r-21211", invalid)],
        time=START,
    )

    await tail.wait_for(lambda: finals(tail, "r-21610") and finals(tail, "r-21211"))

    [stopped] = finals(tail, "r-21610")
    assert (stopped.status, stopped.error_code) == (OutcomeStatus.OPTED_OUT, "21610")
    [consent] = tail.of(ev.ConsentChanged)
    assert (consent.debtor_id, consent.address, consent.channel) == ("d3", opted_out, Channel.SMS)
    assert (consent.change, consent.source) == (ev.ConsentChange.OPT_OUT, ev.ConsentSource.PROVIDER)
    [bad_number] = finals(tail, "r-21211")
    assert (bad_number.status, bad_number.error_code) == (OutcomeStatus.FAILED, "21211")
    assert bad_number.failure is FailureKind.INVALID_DESTINATION
    assert [o.status for o in outcomes(tail, "r-21211")] == [OutcomeStatus.FAILED]
    assert await providers.messages() == []  # refused before anything was created
    assert (
        app.registry.get_sample_value(
            "collections_channel_sends_total", {"channel": "sms", "outcome": "opted_out"}
        )
        == 1
    )


@pytest.mark.parametrize(
    ("suffix", "path"),
    [
        ("15", "429 on the first create: retried with backoff"),
        ("16", "500 before creating: looked up, not found, sent again"),
        ("17", "500 after creating: looked up and found, not sent again"),
        ("19", "timeout after creating: looked up and found, not sent again"),
    ],
)
async def test_retries_and_reconciliation_deliver_exactly_once(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail, suffix: str, path: str
) -> None:
    app, _ = await workers.start(Channel.SMS)
    to = table_number(suffix)
    await publish(settings, [approval("d5", "r-once", to)], time=START)

    # The callbacks may overtake the worker's lookup: the final outcome can come first.
    await tail.wait_for(lambda: len(outcomes(tail, "r-once")) == 2)

    [message] = await providers.messages(to=to)
    assert message["request_id"] == "r-once"
    statuses = {(o.status, o.final) for o in outcomes(tail, "r-once")}
    assert statuses == {(OutcomeStatus.SENT, False), (OutcomeStatus.DELIVERED, True)}, path
    assert all(o.provider_ref == message["sid"] for o in outcomes(tail, "r-once"))
    found = app.registry.get_sample_value(
        "collections_channel_reconciliations_total", {"channel": "sms", "result": "found"}
    )
    retried = app.registry.get_sample_value(
        "collections_channel_retries_total", {"channel": "sms", "reason": "transient"}
    )
    if suffix in ("17", "19"):
        assert found == 1
    if suffix == "15":
        assert retried == 1


async def test_an_approval_past_valid_until_is_not_sent(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.SMS)
    late = approval("d6", "r-late", phone(6), valid_until=START - timedelta(seconds=1))
    in_time = approval("d6", "r-in-time", phone(6))
    await publish(settings, [late, in_time], time=START)

    await tail.wait_for(lambda: finals(tail, "r-late") and finals(tail, "r-in-time"))

    [expired] = outcomes(tail, "r-late")
    assert (expired.status, expired.final) == (OutcomeStatus.EXPIRED, True)
    assert [m["request_id"] for m in await providers.messages()] == ["r-in-time"]


async def test_redelivered_approvals_are_sent_once(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    app, _ = await workers.start(Channel.SMS)
    same = approval("d7", "r-dup", phone(7))
    await publish(settings, [same, same], time=START)
    await tail.wait_for(lambda: finals(tail, "r-dup"))
    await publish(settings, [same], time=START)
    skipped = {"service": "channels-sms"}
    await eventually(
        lambda: app.registry.get_sample_value("collections_duplicates_skipped_total", skipped) == 2
    )
    assert len(await providers.messages(request_id="r-dup")) == 1


async def test_a_refused_token_stops_the_worker_and_the_next_one_sends_once(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    from pydantic import SecretStr

    refused = {"channel": "sms"}
    app, task = await workers.start(Channel.SMS, twilio_auth_token=SecretStr("not-the-token"))
    # At zero before any refusal: an alert on increase() sees the step to one.
    assert app.registry.get_sample_value("collections_channel_auth_failures_total", refused) == 0
    await publish(settings, [approval("d8", "r-auth", phone(8))], time=START)
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(task, 30)
    assert await providers.messages() == []
    assert app.registry.get_sample_value("collections_channel_auth_failures_total", refused) == 1

    await workers.start(Channel.SMS)
    await tail.wait_for(lambda: finals(tail, "r-auth"))
    assert len(await providers.messages(request_id="r-auth")) == 1


async def test_stop_drains_the_send_in_flight_and_commits_it(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    slow = table_number("10")  # the sandbox answers after SLOW_RESPONSE_MS (1 s)
    app, task = await workers.start(Channel.SMS, create_timeout_seconds=5.0)
    await publish(settings, [approval("d9", "r-slow", slow)], time=START)
    await eventually(lambda: _in_flight(providers))

    app.stop()
    await asyncio.wait_for(task, 30)

    await tail.wait_for(lambda: any(not o.final for o in outcomes(tail, "r-slow")))
    [sent] = [o for o in outcomes(tail, "r-slow") if not o.final]
    assert sent.status is OutcomeStatus.SENT
    assert len(await providers.messages(request_id="r-slow")) == 1
    assert await _committed(settings) == 1


async def _in_flight(providers: Providers) -> bool:
    state = (await providers.control.get("/_sandbox/idle")).json()
    return bool(state["in_flight_requests"])


async def _committed(settings: CommonSettings) -> int:
    admin = clients.admin(settings, "tests")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group("channels-sms"))
    finally:
        await admin.close()
    topic = settings.topic(DISPATCH[Channel.SMS])
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def test_a_second_worker_joining_mid_stream_sends_nothing_twice(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.SMS, max_batch=10)
    approvals = [approval(f"d{i % 37}", f"r-rb-{i}", phone(100 + i)) for i in range(150)]
    await publish(settings, approvals, time=START)
    await eventually(lambda: _count(providers, 30), timeout=30)

    await workers.start(Channel.SMS, max_batch=10)

    wanted = {a.request_id for a in approvals}
    await tail.wait_for(
        lambda: {o.request_id for o in tail.of(ev.ContactOutcome) if o.final} >= wanted, timeout=60
    )
    sent = [m["request_id"] for m in await providers.messages()]
    assert sorted(sent) == sorted(a.request_id for a in approvals)


async def _count(providers: Providers, at_least: int) -> bool:
    return len(await providers.messages()) >= at_least
