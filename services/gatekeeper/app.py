"""Builds and runs the gatekeeper service: policy book, controls, the stateful processor, metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import serve
from services.core.settings import CommonSettings
from services.core.stateful import StatefulProcessor
from services.gatekeeper.controls import ControlFollower, Controls
from services.gatekeeper.metrics import GatekeeperMetrics
from services.gatekeeper.policy import PolicyBook
from services.gatekeeper.service import Gatekeeper
from services.gatekeeper.settings import GatekeeperSettings
from services.gatekeeper.state import GatekeeperState


class GatekeeperApp:
    """The whole service in one object, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        settings: CommonSettings,
        gatekeeper_settings: GatekeeperSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.book = PolicyBook.load(gatekeeper_settings.policies)  # fails fast, naming file and field
        self.controls = Controls()
        self.metrics = GatekeeperMetrics(self.registry)
        self.handler = Gatekeeper(self.book, self.metrics, self.controls.holds)
        self.processor: StatefulProcessor[GatekeeperState] = StatefulProcessor(
            self.handler,
            settings,
            clock or clock_from_spec(settings.clock),
            PipelineMetrics(self.registry, "gatekeeper"),
        )
        self.follower = ControlFollower(settings, self.controls, self._controls_changed)

    async def run(self) -> None:
        # Controls first: a pause published before start-up must hold from the very first decision.
        await self.follower.catch_up()
        self.metrics.paused_scopes.set(len(self.controls.paused))
        follow = asyncio.create_task(self.follower.follow())
        try:
            await self.processor.run()
        finally:
            self.follower.stop()
            await follow

    def stop(self) -> None:
        self.processor.stop()

    async def _controls_changed(self) -> None:
        self.metrics.paused_scopes.set(len(self.controls.paused))
        await self.processor.revisit(self.handler.wake_paused, b'"PAUSED"')


async def main(settings: CommonSettings, gatekeeper_settings: GatekeeperSettings) -> None:
    app = GatekeeperApp(settings, gatekeeper_settings)
    await serve(settings, app.registry, lambda: app.processor.healthy, app.run(), app.stop)
