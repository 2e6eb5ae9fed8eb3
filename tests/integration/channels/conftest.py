"""Fixtures for the channel worker and webhooks tests on the real broker: the sandboxes over real HTTP and
SMTP, the webhooks service and channel workers run in-process, all on one manual clock."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from schemas.topics import ACCOUNT, CONSENT, OUTCOMES, REQUESTS
from schemas.vocab import Channel
from services.channels.app import ChannelApp
from services.core.clock import ManualClock
from services.core.settings import CommonSettings
from services.webhooks.app import WebhooksApp
from tests.channels_support import (
    START,
    Providers,
    channels_settings,
    free_port,
    sandbox,
    webhooks_settings,
)
from tests.conftest import Principal
from tests.support import Tail


@pytest.fixture(scope="session")
def tokens() -> list[str]:
    """Two made-up Twilio auth tokens: the primary and the one being rotated in."""
    return [f"fake-{secrets.token_hex(12)}", f"fake-{secrets.token_hex(12)}"]


@pytest.fixture(scope="session")
def link_keys() -> list[str]:
    return [f"link-{secrets.token_hex(16)}"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def providers(tokens: list[str], clock: ManualClock) -> AsyncIterator[Providers]:
    async with sandbox(tokens, clock) as running:
        yield running


@pytest.fixture
async def webhooks(
    principal: Principal, tokens: list[str], link_keys: list[str], clock: ManualClock
) -> AsyncIterator[WebhooksApp]:
    app = WebhooksApp(principal("webhooks"), webhooks_settings(free_port(), tokens, link_keys), clock)
    await app.start()
    yield app
    await app.stop()


class Workers:
    """Starts channel workers in-process; stops whatever is still running at the end of the test."""

    def __init__(
        self,
        settings: CommonSettings,
        providers: Providers,
        webhooks: WebhooksApp,
        keys: list[str],
        clock: Any,
        principal: Principal,
    ) -> None:
        self.settings = settings
        self.principal = principal
        self.providers = providers
        self.webhooks = webhooks
        self.keys = keys
        self.clock = clock
        self.running: list[tuple[ChannelApp, asyncio.Task[None]]] = []

    async def start(
        self, channel: Channel = Channel.SMS, **overrides: Any
    ) -> tuple[ChannelApp, asyncio.Task[None]]:
        config = channels_settings(self.providers, self.webhooks.hooks.base, self.keys, **overrides)
        app = ChannelApp(channel, self.principal(f"channels-{channel.value}"), config, self.clock)
        task = asyncio.create_task(app.run())
        self.running.append((app, task))
        return app, task

    async def stop_all(self) -> None:
        for app, task in self.running:
            app.stop()
            await asyncio.gather(asyncio.wait_for(task, 30), return_exceptions=True)


@pytest.fixture
async def workers(
    settings: CommonSettings,
    providers: Providers,
    webhooks: WebhooksApp,
    link_keys: list[str],
    clock: ManualClock,
    principal: Principal,
) -> AsyncIterator[Workers]:
    running = Workers(settings, providers, webhooks, link_keys, clock, principal)
    yield running
    await running.stop_all()


@pytest.fixture
async def tail(settings: CommonSettings) -> AsyncIterator[Tail]:
    async with Tail(settings, OUTCOMES, CONSENT, ACCOUNT, REQUESTS) as following:
        yield following
