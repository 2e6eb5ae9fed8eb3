"""A worker whose credentials the provider refused stays up a while before the process exits, so that
Prometheus scrapes the refusal count the alert pages on; SIGTERM ends the wait, and nothing else lingers."""

from __future__ import annotations

import asyncio

import pytest

from services.channels.app import linger_on_refusal
from services.channels.errors import AuthenticationError


async def refused() -> None:
    raise AuthenticationError("Authentication Error - invalid username", code="20003")


async def finished() -> None:
    return None


async def test_a_refusal_ends_the_process_only_after_the_linger() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AuthenticationError):
        await linger_on_refusal(refused(), asyncio.Event(), 0.3)
    assert loop.time() - started >= 0.3


async def test_a_stop_during_the_linger_ends_it_at_once() -> None:
    stopping = asyncio.Event()
    lingering = asyncio.create_task(linger_on_refusal(refused(), stopping, 600))
    await asyncio.sleep(0)
    stopping.set()
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(lingering, 5)


async def test_a_worker_that_stops_for_any_other_reason_does_not_linger() -> None:
    await asyncio.wait_for(linger_on_refusal(finished(), asyncio.Event(), 600), 5)
