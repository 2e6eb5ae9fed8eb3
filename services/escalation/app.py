"""Builds and runs the escalation service: strategy, the keyed stage on the runtime, metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import serve
from services.core.runtime.connector import Connector
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.settings import CommonSettings
from services.escalation.metrics import EscalationMetrics
from services.escalation.service import Escalation
from services.escalation.settings import EscalationSettings
from services.escalation.state import Case
from services.escalation.strategy import load_strategy


class EscalationApp:
    """The whole service in one object, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        settings: CommonSettings,
        escalation_settings: EscalationSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.strategy = load_strategy(escalation_settings.strategy)  # fails fast, naming file and field
        self.handler = Escalation(self.strategy, escalation_settings.payment_link_base)
        self.stage: KeyedStage[Case] = KeyedStage(self.handler, EscalationMetrics(self.registry))
        self.runtime = Runtime(
            self.stage,
            settings,
            clock or clock_from_spec(settings.clock),
            PipelineMetrics(self.registry, "escalation"),
            connector=connector,
        )

    @property
    def healthy(self) -> bool:
        return self.runtime.healthy

    async def run(self) -> None:
        await self.runtime.run()

    def stop(self) -> None:
        self.runtime.stop()


async def main(settings: CommonSettings, escalation_settings: EscalationSettings) -> None:
    app = EscalationApp(settings, escalation_settings)
    await serve(settings, app.registry, lambda: app.healthy, app.run(), app.stop)
