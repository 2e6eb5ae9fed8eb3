"""Copies of one signed request in flight at once (a provider retrying while the first is still being
published, a replay racing the original): the first is claimed and published, the others are answered 200
without emitting. A request whose publish fails gives its claim back, so the provider's retry is handled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from pydantic import BaseModel

from schemas import events as ev
from services.webhooks.app import WebhooksApp
from tests.channels_support import eventually, signed
from tests.integration.channels.test_webhooks import delivered, outcomes_of, status_path
from tests.support import Tail

Events = list[tuple[BaseModel, str]]


class HeldPublish:
    """Stands in for the service's publish: records each call and holds it until ``release``."""

    def __init__(self, publish: Callable[[Events], Awaitable[None]]) -> None:
        self.calls: list[Events] = []
        self.released = asyncio.Event()
        self._publish = publish

    async def __call__(self, events: Events) -> None:
        self.calls.append(events)
        await asyncio.wait_for(self.released.wait(), 20)
        await self._publish(events)


async def test_identical_requests_in_flight_are_published_once(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], tail: Tail
) -> None:
    held = HeldPublish(webhooks.hooks.publish)
    webhooks.hooks.publish = held
    url = webhooks.hooks.base + status_path(link_keys, "r-race")
    params = delivered("r-race")
    headers = {**signed(tokens[0], url, params), "I-Twilio-Idempotency-Token": "idem-race"}

    async with httpx.AsyncClient(timeout=30) as client:
        posts = [asyncio.create_task(client.post(url, data=params, headers=headers)) for _ in range(5)]
        await eventually(lambda: held.calls)
        # The copies are answered while the first is still being published; before the claim they would all
        # have reached the publish, held there.
        await eventually(lambda: sum(post.done() for post in posts) == 4 or len(held.calls) == 5)
        held.released.set()
        responses = await asyncio.gather(*posts)

    assert [response.status_code for response in responses] == [200] * 5
    assert len(held.calls) == 1
    await tail.wait_for(lambda: outcomes_of(tail, "r-race"))
    await tail.settle()
    assert len(outcomes_of(tail, "r-race")) == 1
    duplicates = webhooks.registry.get_sample_value(
        "collections_webhooks_duplicates_total", {"endpoint": "message_status"}
    )
    assert duplicates == 4


async def test_a_request_whose_publish_fails_is_handled_when_the_provider_retries(
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    tail: Tail,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publish = webhooks.hooks.publish
    failures = [RuntimeError("broker did not acknowledge +14152000001")]

    async def flaky(events: Events) -> None:
        if failures:
            raise failures.pop()
        await publish(events)

    webhooks.hooks.publish = flaky
    url = webhooks.hooks.base + status_path(link_keys, "r-flaky")
    params = delivered("r-flaky")
    headers = {**signed(tokens[0], url, params), "I-Twilio-Idempotency-Token": "idem-flaky"}
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(timeout=10) as client:
        first = await client.post(url, data=params, headers=headers)
        retry = await client.post(url, data=params, headers=headers)

    assert (first.status_code, retry.status_code) == (500, 200)
    await tail.wait_for(lambda: outcomes_of(tail, "r-flaky"))
    [outcome] = outcomes_of(tail, "r-flaky")
    assert isinstance(outcome, ev.ContactOutcome) and outcome.final
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("services.")]
    [failed] = errors
    assert failed.exc_info is None and "RuntimeError" in failed.getMessage()
    assert "4152000001" not in caplog.text and "Traceback" not in caplog.text
