"""Builds and runs the gatekeeper service: policy book, controls, the keyed stage on the runtime, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from schemas import events as ev
from schemas.topics import CONTROL
from services.core import codec
from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import serve
from services.core.runtime.connector import Connector
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.runtime.reader import TopicReader
from services.core.runtime.transport import Record
from services.core.settings import CommonSettings
from services.core.signing import ApprovalSigner
from services.gatekeeper.controls import Controls
from services.gatekeeper.metrics import GatekeeperMetrics
from services.gatekeeper.policy import PolicyBook
from services.gatekeeper.service import Gatekeeper
from services.gatekeeper.settings import GatekeeperSettings
from services.gatekeeper.state import GatekeeperState
from services.messaging.templates import Catalog

log = logging.getLogger(__name__)


class ControlFeed:
    """Reads the control topic from the beginning, then follows it; ``on_change`` runs after each change."""

    def __init__(self, reader: TopicReader, topic: str, controls: Controls) -> None:
        self.reader = reader
        self.topic = topic
        self.controls = controls
        self._stopping = asyncio.Event()

    async def catch_up(self) -> None:
        """Load every control already published; call before deciding anything."""
        await self.reader.start()
        async for records in self.reader.replay(await self.reader.partitions(self.topic)):
            self._apply(records)

    async def follow(self, on_change: Callable[[], Awaitable[None]]) -> None:
        try:
            while not self._stopping.is_set():
                if self._apply(await self.reader.poll(200)):
                    await on_change()
        finally:
            await self.reader.stop()

    def stop(self) -> None:
        self._stopping.set()

    def _apply(self, records: list[Record]) -> bool:
        changed = False
        for record in records:
            try:
                event = codec.decode(record.key, record.value, record.headers).event
            except codec.DecodeError as exc:
                log.warning("ignoring unreadable control record at offset %d: %s", record.offset, exc.reason)
                continue
            if isinstance(event, ev.OutreachControlChanged):
                log.info(
                    "control %s -> %s by %s",
                    event.control_key,
                    "paused" if event.paused else "resumed",
                    event.operator,
                )
                self.controls.apply(event)
                changed = True
        return changed


class GatekeeperApp:
    """The whole service in one object, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        settings: CommonSettings,
        gatekeeper_settings: GatekeeperSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.book = PolicyBook.load(gatekeeper_settings.policies)  # fails fast, naming file and field
        self.controls = Controls()
        self.metrics = GatekeeperMetrics(self.registry)
        catalog = Catalog.load(gatekeeper_settings.templates)
        self.handler = Gatekeeper(self.book, self.controls.holds, catalog.tags)
        self.stage: KeyedStage[GatekeeperState] = KeyedStage(self.handler, self.metrics)
        self.runtime = Runtime(
            self.stage,
            settings,
            clock or clock_from_spec(settings.clock),
            PipelineMetrics(self.registry, "gatekeeper"),
            connector=connector,
            signer=ApprovalSigner(gatekeeper_settings.signing_key),
        )
        self.feed = ControlFeed(self.runtime.reader("controls"), settings.topic(CONTROL), self.controls)

    @property
    def healthy(self) -> bool:
        return self.runtime.healthy

    async def run(self) -> None:
        # Controls first: a pause published before start-up must hold from the very first decision.
        try:
            await self.feed.catch_up()
        except BaseException:
            # The runtime never started (no broker): its producer was made, so it is closed here.
            await self.runtime.publisher.stop()
            raise
        self.metrics.paused_scopes.set(len(self.controls.paused))
        follow = asyncio.create_task(self.feed.follow(self._controls_changed))
        try:
            await self.runtime.run()
        finally:
            self.feed.stop()
            await follow

    def stop(self) -> None:
        self.runtime.stop()

    async def _controls_changed(self) -> None:
        self.metrics.paused_scopes.set(len(self.controls.paused))
        await self.stage.revisit(self.handler.wake_paused, b'"PAUSED"')


async def main(settings: CommonSettings, gatekeeper_settings: GatekeeperSettings) -> None:
    app = GatekeeperApp(settings, gatekeeper_settings)
    await serve(settings, app.registry, lambda: app.healthy, app.run(), app.stop)
