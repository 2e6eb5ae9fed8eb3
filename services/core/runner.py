"""Process plumbing every service shares: logging, the metrics endpoint, signals, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings

from services.core.cli import problem
from services.core.metrics import MetricsServer
from services.core.settings import CommonSettings, ConfigError, load_all

T = TypeVar("T")


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
    )
    # The Kafka client logs every retry at WARNING; they are expected during rebalances and broker restarts.
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.ERROR))
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    if not any(isinstance(f, TransientCoordinatorLookup) for f in coordinator.filters):
        coordinator.addFilter(TransientCoordinatorLookup())
    # httpx logs every request's URL at INFO, and a provider lookup carries the debtor's number in its query.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))


class TransientCoordinatorLookup(logging.Filter):
    """The consumer's failed lookup of its group coordinator, which it retries, at INFO rather than ERROR.

    A broker answers GroupCoordinatorNotAvailable until it has created its offsets topic and elected the
    group's coordinator, so the first start of a service on a fresh broker always meets it; the lookup is
    retried until it succeeds. The record then passes or not by the Kafka client's level, as its other
    retries do.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if record.msg != "Group Coordinator Request failed: %s" or not getattr(error, "retriable", False):
            return True
        record.levelno, record.levelname = logging.INFO, "INFO"
        return logging.getLogger("aiokafka").isEnabledFor(logging.INFO)


async def listening(start: Awaitable[T], host: str, port: int, settings: str) -> T:
    """Await a server's ``start``; an address in use (or not ours) fails as a setting: one line, exit 2."""
    try:
        return await start
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} ({settings}; port 0 picks a free one)"
        ) from exc


async def serve(
    settings: CommonSettings,
    registry: CollectorRegistry,
    healthy: Callable[[], bool],
    main: Awaitable[None],
    stop: Callable[[], None],
) -> None:
    """Run ``main`` with ``/metrics`` and ``/healthz`` served; SIGTERM or SIGINT call ``stop`` to drain."""
    server = MetricsServer(registry, healthy)
    try:
        await listening(
            server.start(settings.metrics_host, settings.metrics_port),
            settings.metrics_host,
            settings.metrics_port,
            "COLLECTIONS_METRICS_HOST, COLLECTIONS_METRICS_PORT",
        )
    except ConfigError:
        # The service is built, its clients with it: it starts and drains at once, leaving none unclosed.
        stop()
        with contextlib.suppress(Exception):
            await main
        raise
    # A machine-readable line, so tests and the demo find the port when it was chosen by the OS.
    print(f"METRICS_READY http://{settings.metrics_host}:{server.port}/metrics", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await main
    finally:
        await server.stop()


def run_service(
    name: str, settings: tuple[type[BaseSettings], ...], start: Callable[..., Awaitable[None]]
) -> int:
    """The ``run`` command of every service: read every settings class (all problems reported at once),
    configure logging at the configured level, then ``start(*settings)`` until it ends. Bad configuration
    exits 2 with one line naming each variable, file or field; so do an unreachable broker, missing topics
    and a metrics port in use (``services.core.cli.problem``)."""
    try:
        loaded = load_all(*settings)
    except ConfigError as exc:
        print(f"{name}: refusing to start: {exc}", file=sys.stderr)
        return 2
    common = next((s for s in loaded if isinstance(s, CommonSettings)), None)
    configure_logging(name, common.log_level if common is not None else "INFO")
    try:
        asyncio.run(_awaited(start, loaded))
    except Exception as exc:
        message = problem(exc)
        if message is None:
            raise
        print(f"{name}: refusing to start: {message}", file=sys.stderr)
        return 2
    return 0


async def _awaited(start: Callable[..., Awaitable[None]], settings: list[BaseSettings]) -> None:
    await start(*settings)
