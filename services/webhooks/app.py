"""Builds and runs the webhooks service: the Kafka producer, the debtor directory, the HTTP endpoints on the
public port, and /metrics and /healthz on the internal one."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from schemas.topics import ACCOUNT
from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import listening, serve
from services.core.runtime.connector import Connector, KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader
from services.core.settings import CommonSettings
from services.messaging.templates import TemplateBook
from services.webhooks import edge
from services.webhooks.bounces import BounceReceiver, start_bounce_server
from services.webhooks.directory import Directory
from services.webhooks.keywords import Matcher
from services.webhooks.metrics import WebhookMetrics
from services.webhooks.routes import Webhooks
from services.webhooks.settings import WebhooksSettings

log = logging.getLogger(__name__)
SOURCE = "/collections/webhooks"


class WebhooksApp:
    """The whole service in one object, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        settings: CommonSettings,
        config: WebhooksSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.clock = clock or clock_from_spec(settings.clock)
        self.registry = registry or CollectorRegistry()
        self.metrics = WebhookMetrics(self.registry)
        self.pipeline = PipelineMetrics(self.registry, "webhooks")
        connector = connector or KafkaConnector(settings)
        self.publisher = Publisher(
            connector.producer("webhooks"), settings, "webhooks", SOURCE, self.pipeline
        )
        self.directory = Directory(
            TopicReader(connector.consumer(None, "webhooks-directory")),
            settings.topic(ACCOUNT),
            self.pipeline,
        )
        self.hooks = Webhooks(
            config,
            self.publish,
            self.directory,
            TemplateBook.load(config.templates),
            Matcher.load(config.optout_keywords),
            self.clock,
            self.metrics,
        )
        self.port = 0
        self.bounce_port = 0
        self._bounces: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._follow: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def healthy(self) -> bool:
        return self._runner is not None and self._follow is not None and not self._follow.done()

    async def start(self) -> None:
        await self.publisher.start()
        await self.directory.start()
        self._follow = asyncio.create_task(self.directory.follow())
        # Serve only once the directory has read what was published before: an early STOP finds its debtor.
        await self.directory.caught_up(timeout=120)
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.add_routes(self.hooks.routes())
        self._runner = edge.runner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await listening(site.start(), self.config.host, self.config.port, "WEBHOOKS_HOST, WEBHOOKS_PORT")
        self.port = int(self._runner.addresses[0][1])
        log.info("webhooks listening on %s:%d", self.config.host, self.port)
        if self.config.bounce_port is not None and self.config.bounce_domain is not None:
            receiver = BounceReceiver(
                self.config.bounce_domain, self.hooks.links, self.publish, self.clock, self.metrics
            )
            self._bounces = await start_bounce_server(receiver, self.config.host, self.config.bounce_port)
            self.bounce_port = int(self._bounces.sockets[0].getsockname()[1])
            log.info("bounce receiver listening on %s:%d", self.config.host, self.bounce_port)

    async def stop(self) -> None:
        # Requests in hand finish (their events are acknowledged) before the producer closes.
        if self._bounces is not None:
            self._bounces.close()
            await self._bounces.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.directory.stop()
        if self._follow is not None:
            self._follow.cancel()
            await asyncio.gather(self._follow, return_exceptions=True)
        await self.publisher.stop()

    async def publish(self, events: list[tuple[BaseModel, str]]) -> None:
        """Encode and publish; returns once the broker has acknowledged every event."""
        await self.publisher.publish(events, self.clock.now())

    async def run(self) -> None:
        try:
            # A start that fails half-way (no broker) closes what it opened, in stop.
            await self.start()
            print(f"WEBHOOKS_READY http://{self.config.host}:{self.port}", flush=True)
            await self._stopped.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stopped.set()


async def main(settings: CommonSettings, config: WebhooksSettings) -> None:
    app = WebhooksApp(settings, config)
    await serve(settings, app.registry, lambda: app.healthy, app.run(), app.request_stop)
