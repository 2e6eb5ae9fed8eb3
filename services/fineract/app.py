"""Builds and runs the Fineract adapter: the keyed stage (state per loan) on the runtime, with the Fineract
topic's own decoder, and its metrics. ``build`` is shared by the service and the translate command, so the
command runs exactly what the service runs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import serve
from services.core.runtime.connector import Connector
from services.core.runtime.handler import Handler, Meter
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.settings import CommonSettings
from services.fineract.metrics import FineractMetrics
from services.fineract.records import decode_record, state_key
from services.fineract.service import FineractAdapter
from services.fineract.settings import FineractSettings
from services.fineract.state import LoanEntry


def build(
    handler: Handler[LoanEntry],
    settings: CommonSettings,
    fineract_settings: FineractSettings,
    clock: Clock,
    registry: CollectorRegistry,
    meter: Meter | None,
    connector: Connector | None = None,
) -> Runtime:
    stage: KeyedStage[LoanEntry] = KeyedStage(handler, meter, key=state_key)
    return Runtime(
        stage,
        settings,
        clock,
        PipelineMetrics(registry, handler.service),
        connector=connector,
        source=f"/fineract/{fineract_settings.tenant}",
        decoders={fineract_settings.topic: decode_record},
    )


class FineractApp:
    """The whole service in one object, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        settings: CommonSettings,
        fineract_settings: FineractSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.handler = FineractAdapter(fineract_settings)
        self.metrics = FineractMetrics(self.registry)
        self.runtime = build(
            self.handler,
            settings,
            fineract_settings,
            clock or clock_from_spec(settings.clock),
            self.registry,
            self.metrics,
            connector,
        )

    @property
    def stage(self) -> KeyedStage[LoanEntry]:
        stage = self.runtime.stage
        assert isinstance(stage, KeyedStage)
        return stage

    @property
    def healthy(self) -> bool:
        return self.runtime.healthy

    async def run(self) -> None:
        await self.runtime.run()

    def stop(self) -> None:
        self.runtime.stop()


async def main(settings: CommonSettings, fineract_settings: FineractSettings) -> None:
    app = FineractApp(settings, fineract_settings)
    await serve(settings, app.registry, lambda: app.healthy, app.run(), app.stop)
