"""A real Prometheus server (Debian's binary) scrapes the services running against the real broker and finds
each one's metrics through its query API, with the jobs and alert rules of deploy/prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas.vocab import Channel
from services.channels.app import ChannelApp
from services.channels.settings import ChannelsSettings
from services.core.metrics import MetricsServer
from services.core.settings import CommonSettings
from services.escalation.app import EscalationApp
from services.escalation.settings import EscalationSettings
from services.gatekeeper.app import GatekeeperApp
from services.webhooks.app import WebhooksApp
from services.webhooks.settings import WebhooksSettings
from tests.support import APPROVAL_PUBLIC_KEY, gatekeeper_settings

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
PROMETHEUS = shutil.which("prometheus")

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus is not installed: `make prometheus` (root) or `apt-get install prometheus` brings it",
)

# One query per job that only that service answers (a series it sets as soon as it runs).
EVIDENCE = {
    **{
        job: f'collections_last_poll_timestamp_seconds{{job="{job}", service="{job}"}}'
        for job in ("gatekeeper", "escalation", "channels-sms", "channels-email", "channels-voice")
    },
    "webhooks": 'collections_webhooks_unmatched_inbound_total{job="webhooks"}',
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    name: str
    registry: CollectorRegistry
    server: MetricsServer
    task: asyncio.Task[None]
    stop: Callable[[], Any]


def channels_config() -> ChannelsSettings:
    # Made-up credentials and an unreachable provider: no approval arrives, so nothing is ever sent.
    return ChannelsSettings(
        twilio_base_url="http://127.0.0.1:9",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=SecretStr(secrets.token_hex(16)),
        sms_from="+15550009000",
        voice_from="+15550009001",
        webhooks_base_url="http://127.0.0.1:9/hooks",
        link_signing_keys=[SecretStr(secrets.token_hex(16))],
        approval_keys=[APPROVAL_PUBLIC_KEY],
        smtp_host="127.0.0.1",
        smtp_port=9,
    )


def webhooks_config() -> WebhooksSettings:
    return WebhooksSettings(
        host="127.0.0.1",
        port=0,
        public_base_url="http://127.0.0.1:9/hooks",
        twilio_auth_tokens=[SecretStr(secrets.token_hex(16))],
        link_signing_keys=[SecretStr(secrets.token_hex(16))],
    )


@contextlib.asynccontextmanager
async def services(settings: CommonSettings) -> AsyncIterator[dict[str, Running]]:
    running: dict[str, Running] = {}

    async def start(
        name: str, registry: CollectorRegistry, run: Coroutine[Any, Any, None], stop: Callable[[], Any]
    ) -> None:
        server = MetricsServer(registry, lambda: True)
        await server.start("127.0.0.1", 0)
        running[name] = Running(name, registry, server, asyncio.create_task(run), stop)

    try:
        gatekeeper = GatekeeperApp(settings, gatekeeper_settings())
        await start("gatekeeper", gatekeeper.registry, gatekeeper.run(), gatekeeper.stop)
        escalation = EscalationApp(settings, EscalationSettings())
        await start("escalation", escalation.registry, escalation.run(), escalation.stop)
        for channel in Channel:
            worker = ChannelApp(channel, settings, channels_config())
            await start(f"channels-{channel.value}", worker.registry, worker.run(), worker.stop)
        hooks = WebhooksApp(settings, webhooks_config())
        await start("webhooks", hooks.registry, hooks.run(), hooks.request_stop)
        yield running
    finally:
        for service in running.values():
            service.stop()
        for service in running.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(service.task, 30)
            await service.server.stop()


def prometheus_config(ports: dict[str, int], path: Path) -> set[str]:
    """deploy/prometheus/prometheus.yml with the targets moved to loopback ports; returns its job names."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / "rules.yml")]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] in ports]
    for job in jobs:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    config["scrape_configs"] = jobs
    path.write_text(yaml.safe_dump(config))
    return {job["job_name"] for job in jobs}


async def query(client: httpx.AsyncClient, promql: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/query", params={"query": promql})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


async def until(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        await asyncio.sleep(0.5)


async def test_prometheus_finds_every_service(settings: CommonSettings, tmp_path: Path) -> None:
    assert PROMETHEUS is not None
    async with services(settings) as running:
        ports = {name: service.server.port for name, service in running.items()}
        jobs = prometheus_config(ports, tmp_path / "prometheus.yml")
        assert jobs == set(EVIDENCE) == set(running), "every service has a job in deploy/prometheus"
        web = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        server = await asyncio.create_subprocess_exec(
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web}", timeout=5) as client:

                async def all_up() -> bool:
                    with contextlib.suppress(httpx.HTTPError):
                        up = await query(client, "up == 1")
                        return {r["metric"]["job"] for r in up} == jobs
                    return False

                await until(all_up, 90, "every job up")
                missing: dict[str, str] = dict(EVIDENCE)

                async def evidence() -> bool:
                    for job, promql in list(missing.items()):
                        if await query(client, promql):
                            del missing[job]
                    return not missing

                await until(evidence, 60, f"metrics of {sorted(missing)}")
                rules = (await client.get("/api/v1/rules")).json()["data"]["groups"]
                assert sum(len(group["rules"]) for group in rules) == 10
                assert all(not task.task.done() for task in running.values()), "a service stopped"
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 30)
            log.close()
        assert server.returncode == 0, (tmp_path / "prometheus.log").read_text()[-3000:]
