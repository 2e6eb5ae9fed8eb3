"""Prometheus metrics shared by every consumer, and the small HTTP server for ``/metrics`` and ``/healthz``.

Each service builds its metrics on its own ``CollectorRegistry`` (never the global one), so that tests can
run several services in one process and read each one's numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from services.core.runtime.handler import Count


class PipelineMetrics:
    """What every consumer loop reports, labelled by service (and topic or reason)."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.consumed = Counter(
            "collections_records_consumed_total",
            "Records read from Kafka",
            ["service", "topic"],
            registry=registry,
        )
        self.produced = Counter(
            "collections_records_produced_total",
            "Records written to Kafka",
            ["service", "topic"],
            registry=registry,
        )
        self.deadletters = Counter(
            "collections_deadletters_total",
            "Records sent to the dead-letter topic",
            ["service", "reason"],
            registry=registry,
        )
        self.dropped_values = Counter(
            "collections_dropped_values_total",
            "Contact points and time zones dropped from profiles because they did not parse (the profile and"
            " its flags were kept)",
            ["service"],
            registry=registry,
        )
        self.duplicates = Counter(
            "collections_duplicates_skipped_total",
            "Records skipped because their ce_id was already applied",
            ["service"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "collections_batch_seconds",
            "Time to process and commit one consumed batch",
            ["service"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.lag = Gauge(
            "collections_consumer_lag_records",
            "Records not yet consumed, by topic (high watermark minus position)",
            ["service", "topic"],
            registry=registry,
        )
        self.scheduled = Gauge(
            "collections_scheduled_items",
            "Items waiting in the partition-local schedule (deferred requests, pending ladder steps)",
            ["service"],
            registry=registry,
        )
        self.record_age = Histogram(
            "collections_record_age_seconds",
            "Wall time from a record's append to the broker to its processing (end-to-end latency per hop)",
            ["service"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.recoveries = Counter(
            "collections_recoveries_total",
            "Times a consumer went back to its last committed state after a broker error",
            ["service"],
            registry=registry,
        )
        self.last_poll = Gauge(
            "collections_last_poll_timestamp_seconds",
            "Wall time of the consumer loop's last poll",
            ["service"],
            registry=registry,
        )


class MetricsServer:
    """Serves ``/metrics`` from a registry and ``/healthz`` from a liveness callback."""

    def __init__(self, registry: CollectorRegistry, healthy: Callable[[], bool]) -> None:
        self.registry = registry
        self.healthy = healthy
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, _: web.Request) -> web.Response:
        ok = self.healthy()
        return web.json_response({"ok": ok, "time": time.time()}, status=200 if ok else 503)


def record_counts(metrics: Mapping[str, Counter | Histogram], counts: Iterable[Count]) -> None:
    """Apply a handler's counts to the service's metrics, found by the counted name."""
    for count in counts:
        metric = metrics[count.metric]
        if isinstance(metric, Histogram):
            (metric.labels(*count.labels) if count.labels else metric).observe(count.value)
        else:
            (metric.labels(*count.labels) if count.labels else metric).inc(count.value)
