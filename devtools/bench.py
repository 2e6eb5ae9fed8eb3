"""``make bench``: throughput, latency and scale of the platform against the Python ceiling, on one broker.

One run starts one broker in a fresh folder under ``var/bench/`` and gives every stage its own topic prefix
(the catalog's settings, 12 partitions). Services run as the processes they are in production, on a stepped
shared clock held at one instant where every contact window is open; CPU and memory come from /proc. Every
figure is also given as a ratio to the baseline measured in the same run, since the machine may be shared.
How each figure is measured: docs/bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from devtools import bench_events as events
from devtools.bench_kafka import Drain, Kafka, baseline, last_timestamp, partition_of
from devtools.bench_procs import CpuMeter, CpuReading, Proc, Profiler, directory_bytes, rss_bytes
from devtools.bench_report import Report, others_load, percentiles
from devtools.localkafka import LocalKafka, free_port
from schemas.topics import ACCOUNT, DECISIONS, DISPATCH, OUTCOMES, REQUESTS
from schemas.vocab import Channel
from services.channels.settings import ChannelsSettings
from services.core import signing
from services.core.catalog import apply
from services.core.clock import write_stepped
from services.core.settings import REPO_ROOT, CommonSettings
from services.core.signing import ApprovalSigner, ApprovalVerifier
from services.escalation.service import Escalation
from services.gatekeeper.service import Gatekeeper

GATEKEEPER_STATE = "collections.gatekeeper.state.v1"
ESCALATION_STATE = "collections.escalation.state.v1"
SENDER_LEDGER = "collections.sender.ledger.v1"
PARTITIONS = 12
ACCOUNT_SID = "AC" + "0" * 32
SMS_FROM = "+15550009000"
# The SMS worker runs with its default concurrency; the sandbox's direct load uses the same.
SMS_IN_FLIGHT = int(ChannelsSettings.model_fields["max_in_flight"].default)


@dataclass(frozen=True)
class Sizes:
    """How much each stage does: ``full`` the size the targets are judged at, ``quick`` the same figures
    smaller."""

    baseline: int
    escalation: int
    gatekeeper: int
    sms: int
    sandbox: int
    end_of_day: int
    latency_seconds: float
    stop_payments: int
    scale_debtors: int
    scale_requests: int
    pipeline: int
    latency_rate: int = 500
    signing: int = 5_000


FULL = Sizes(
    baseline=100_000,
    escalation=100_000,
    gatekeeper=100_000,
    # The SMS worker does ~200 sends/s here, bounded by its HTTP client (see docs/bench/README.md): 20,000
    # give a steady rate in under two minutes where 100,000 would take about seven minutes more.
    sms=20_000,
    sandbox=5_000,
    end_of_day=100_000,
    latency_seconds=30,
    stop_payments=1_000,
    scale_debtors=1_000_000,
    scale_requests=50_000,
    pipeline=10_000,
    signing=20_000,
)
QUICK = Sizes(
    baseline=8_000,
    escalation=4_000,
    gatekeeper=4_000,
    sms=600,
    sandbox=500,
    end_of_day=3_000,
    latency_seconds=8,
    stop_payments=200,
    scale_debtors=100_000,
    scale_requests=3_000,
    pipeline=600,
)
# The smoke test's size: every stage runs, nothing is worth quoting.
TINY = Sizes(
    baseline=500,
    escalation=300,
    gatekeeper=300,
    sms=200,
    sandbox=200,
    end_of_day=300,
    latency_seconds=2,
    stop_payments=40,
    scale_debtors=2_000,
    scale_requests=300,
    pipeline=100,
    signing=200,
)


@dataclass(frozen=True)
class Broker:
    local: LocalKafka
    pid: int
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return self.local.bootstrap


class Bench:
    """The stages, run in order against one broker; each adds its figures to ``report``."""

    def __init__(self, broker: Broker, out: Path, sizes: Sizes, *, profile: bool = False) -> None:
        self.broker = broker
        self.out = out
        self.sizes = sizes
        self.profile = profile
        self.kafka = Kafka(broker.local.settings("admin"))
        self.meter = CpuMeter()
        self.meter.watch("broker", broker.pid)
        self.report = Report(sizes=asdict(sizes))
        self.clock_file = out / "clock.json"
        self.logs = out / "logs"
        self.token = secrets.token_hex(16)
        # The sandbox's control endpoints (reset, ledger, idle) take their own token.
        self.control = {"Authorization": f"Bearer {secrets.token_hex(16)}"}
        self.link_key = secrets.token_hex(16)
        self.signing_key, self.approval_key = signing.generate()
        self.signer = ApprovalSigner(SecretStr(self.signing_key))  # what the gatekeeper signs with
        self._procs: list[Proc] = []
        self._sandbox: Proc | None = None

    async def run(self, stages: list[str]) -> Report:
        write_stepped(self.clock_file, events.NOW)
        await self.kafka.start()
        try:
            for stage in stages:
                started = time.monotonic()
                _say(f"{stage} ...")
                await getattr(self, f"stage_{stage.replace('-', '_')}")()
                _say(f"{stage} done in {time.monotonic() - started:.0f}s")
        finally:
            self._stop_all()
            await self.kafka.stop()
        return self.report

    # ---- 1. the ceiling --------------------------------------------------------------------

    async def stage_baseline(self) -> None:
        prefix = await self._topics("baseline")
        settings = self._settings(prefix)
        n = self.sizes.baseline
        for name, template, source, target in (
            ("overdue", events.overdue(), ACCOUNT, REQUESTS),
            ("requests", events.request(), REQUESTS, DECISIONS),
            ("approvals", events.approval(), DISPATCH[Channel.SMS], OUTCOMES),
        ):
            await self.kafka.produce(prefix, (template.stamp(i) for i in range(n)))
            before = self.meter.read()
            drain = await baseline(settings, source, target, n)
            self.report.add_baseline(name, drain, self._cpu(before))

    async def stage_signing(self) -> None:
        """The gatekeeper's Ed25519 signature on each approval and a worker's check of it, in this process,
        on the approvals the baseline re-encodes: CPU per approval, and its share of the baseline's."""
        verifier = ApprovalVerifier([self.approval_key])
        topic = DISPATCH[Channel.SMS]
        records = events.approval().many(range(self.sizes.signing))
        started = time.process_time()
        signed = [r.headers + self.signer.sign(topic, r.key, r.headers, r.value) for r in records]
        sign_cpu = time.process_time() - started
        started = time.process_time()
        for record, headers in zip(records, signed, strict=True):
            verifier.verify(topic, record.key, headers, record.value)
        self.report.add_signing(len(records), sign_cpu, time.process_time() - started)

    # ---- 2. stage drain rates --------------------------------------------------------------

    async def stage_escalation(self) -> None:
        prefix = await self._topics("escalation")
        n = self.sizes.escalation
        escalation = await self._service("escalation", prefix, ["services.escalation", "run"])
        await self._preload(prefix, n, [(escalation, ESCALATION_STATE)])
        drain, cpu, profile = await self._drain(
            [escalation], prefix, events.overdue().many(range(n)), REQUESTS, n
        )
        self.report.stage("escalation", drain, "overdue", cpu=cpu, roles=["escalation"], profile=profile)
        self._stop(escalation)

    async def stage_gatekeeper(self) -> None:
        prefix = await self._topics("gatekeeper")
        n = self.sizes.gatekeeper
        gatekeeper = await self._service("gatekeeper", prefix, ["services.gatekeeper", "run"])
        await self._preload(prefix, n, [(gatekeeper, GATEKEEPER_STATE)])
        drain, cpu, profile = await self._drain(
            [gatekeeper], prefix, events.request().many(range(n)), DECISIONS, n
        )
        allowed = await self._count_decisions(prefix, b'"decision":"allow"')
        self.report.stage(
            "gatekeeper", drain, "requests", cpu=cpu, roles=["gatekeeper"], profile=profile, allowed=allowed
        )
        self._stop(gatekeeper)

    async def stage_sms(self) -> None:
        prefix = await self._topics("sms")
        n = self.sizes.sms
        sandbox_url = await self._sandbox_url()
        self.report.sandbox = await self._sandbox_capacity(sandbox_url)
        webhooks = await self._webhooks(prefix)
        worker = await self._sms_worker(prefix, sandbox_url, webhooks)
        # A first send proves the worker has joined and restored its ledger before the backlog is written.
        await self.kafka.produce(prefix, self._signed(prefix, [events.approval().stamp(n)]))
        await self.kafka.wait_total(prefix + SENDER_LEDGER, 2, 60, worker.check)
        approvals = self._signed(prefix, events.approval().many(range(n)))
        drain, cpu, _ = await self._drain([worker], prefix, approvals, SENDER_LEDGER, 2 * n, 2)
        self.report.stage("sms_worker", drain, "approvals", cpu=cpu, roles=["channels-sms"])
        self.report.stages["sms_worker"]["ratio_to_sandbox"] = round(
            drain.per_second / self.report.sandbox["creates_per_s"], 3
        )
        self._stop(worker)
        self._stop(webhooks)

    def _signed(self, prefix: str, approvals: list[events.Record]) -> list[events.Record]:
        """Approvals as the gatekeeper writes them, signed for the topic they go to: workers refuse others."""
        return [
            r._replace(headers=[*r.headers, *self.signer.sign(prefix + r.topic, r.key, r.headers, r.value)])
            for r in approvals
        ]

    # ---- 3. end of day ---------------------------------------------------------------------

    async def stage_end_of_day(self) -> None:
        prefix = await self._topics("end-of-day")
        n = self.sizes.end_of_day
        escalation = await self._service("escalation", prefix, ["services.escalation", "run"])
        gatekeeper = await self._service("gatekeeper", prefix, ["services.gatekeeper", "run"])
        await self._preload(prefix, n, [(escalation, ESCALATION_STATE), (gatekeeper, GATEKEEPER_STATE)])
        before = self.meter.read()
        started = time.time()
        await self.kafka.produce(prefix, events.overdue().each(range(n)))
        published = time.time()
        await self.kafka.wait_total(prefix + DECISIONS, n, _budget(n, 200), _alive(escalation, gatekeeper))
        last = last_timestamp(await self.kafka.read(prefix + DECISIONS), started)
        seconds = last - started
        self.report.end_of_day = {
            "accounts": n,
            "publish_seconds": round(published - started, 2),
            "seconds_to_last_decision": round(seconds, 2),
            "accounts_per_s": round(n / seconds, 1),
            "extrapolated_1m_seconds": round(seconds * 1_000_000 / n, 1),
            "extrapolation": "linear in accounts: per-account work and per-debtor state are constant; "
            "compare the decision rate with 1M debtors of state (scale) to check it does not grow",
            **self._usage(before),
        }
        self._stop(escalation)
        self._stop(gatekeeper)

    # ---- 4. latency ------------------------------------------------------------------------

    async def stage_latency(self) -> None:
        prefix = await self._topics("latency")
        rate, seconds = self.sizes.latency_rate, self.sizes.latency_seconds
        live, held = int(rate * seconds), self.sizes.stop_payments
        gatekeeper = await self._service("gatekeeper", prefix, ["services.gatekeeper", "run"])
        await self._preload(prefix, live + held, [(gatekeeper, GATEKEEPER_STATE)])
        # Requests held for tomorrow, to be stopped by a payment in full while the live load runs.
        deferred = events.request(deferred_until=events.NOW + timedelta(days=1))
        await self.kafka.produce(prefix, (deferred.stamp(live + i) for i in range(held)))
        await self.kafka.wait_total(prefix + DECISIONS, held, 120, gatekeeper.check)
        request, payment = events.request(), events.payment_in_full()
        schedule = [(i / rate, request.stamp(i)) for i in range(live)]
        spacing = max(seconds - 1.0, 0.5) / held
        schedule += [(0.5 + i * spacing, payment.stamp(live + i)) for i in range(held)]
        schedule.sort(key=lambda item: item[0])
        before = self.meter.read()
        await self.kafka.produce_paced(prefix, schedule)
        await self.kafka.wait_total(prefix + DECISIONS, 2 * held + live, 120, gatekeeper.check)
        usage = self._usage(before)
        sent = {_field(r.value, b"request_id"): r.timestamp for r in await self.kafka.read(prefix + REQUESTS)}
        approved = {
            _field(r.value, b"request_id"): r.timestamp
            for r in await self.kafka.read(prefix + DISPATCH[Channel.SMS])
        }
        latencies = [approved[rid] - sent[rid] for rid in approved if rid in sent]
        paid = {
            r.key: r.timestamp
            for r in await self.kafka.read(prefix + ACCOUNT)
            if b"outstanding_after" in (r.value or b"")
        }
        stops = [
            r.timestamp - paid[r.key]
            for r in await self.kafka.read(prefix + DECISIONS)
            if r.key in paid and b'"PAID"' in (r.value or b"")
        ]
        self.report.latency = {
            "rate_per_s": rate,
            "seconds": seconds,
            "requests": live,
            "approved": len(latencies),
            "request_to_approval_ms": percentiles(latencies),
            "payments": held,
            "stopped": len(stops),
            "stop_ms": percentiles(stops),
            **usage,
        }
        self._stop(gatekeeper)

    # ---- 5. scale --------------------------------------------------------------------------

    async def stage_scale(self) -> None:
        prefix = await self._topics("scale")
        debtors, m = self.sizes.scale_debtors, self.sizes.scale_requests
        requests = events.request()
        # Probe requests, one per partition, from debtors the backlogs never use: once each is decided,
        # every partition is owned by a worker that has restored its state.
        probes = _per_partition(range(debtors - 1, 2 * m, -1), 2)
        first = await self._service("gatekeeper-1", prefix, ["services.gatekeeper", "run"])
        await self._probe(prefix, [requests.stamp(debtors)], [first])
        empty = rss_bytes(first.pid)
        self._stop(first)
        # The state a gatekeeper holds once it has read every debtor's profile, written straight to its
        # changelog: feeding a million profiles through the service would take most of the run.
        await self.kafka.produce(prefix, events.StateTemplate(GATEKEEPER_STATE).each(range(debtors)))
        first = await self._service("gatekeeper-1", prefix, ["services.gatekeeper", "run"])
        await self._probe(prefix, [requests.stamp(i) for i in probes[0]], [first])
        figures: dict[str, Any] = {
            "debtors": debtors,
            "restore_seconds": round(sum(first.restores()), 2),
            "rss_bytes_empty": empty,
            "rss_bytes_state_loaded": rss_bytes(first.pid),
            "changelog_disk_bytes": directory_bytes(self.broker.data_dir, prefix + GATEKEEPER_STATE + "-"),
        }
        one, one_cpu, _ = await self._drain([first], prefix, requests.many(range(m)), DECISIONS, m)
        figures["rss_bytes_after_decisions"] = rss_bytes(first.pid)
        second = await self._service("gatekeeper-2", prefix, ["services.gatekeeper", "run"])
        await self._wait_restored(second, [first, second])
        await self._probe(prefix, [requests.stamp(i) for i in probes[1]], [first, second])
        backlog = requests.many(range(m, 2 * m))
        two, two_cpu, _ = await self._drain([first, second], prefix, backlog, DECISIONS, m)
        figures |= {
            "one_worker": _drain_figures(one)
            | {"cpu_seconds": one_cpu, "others_load": others_load(one_cpu, one.seconds)},
            "two_workers": _drain_figures(two)
            | {"cpu_seconds": two_cpu, "others_load": others_load(two_cpu, two.seconds)},
            "two_to_one": round(two.per_second / one.per_second, 3),
            "allowed": await self._count_decisions(prefix, b'"decision":"allow"'),
            "restore_seconds_second_worker": round(sum(second.restores()), 2),
            "rss_bytes_two_workers": [rss_bytes(first.pid), rss_bytes(second.pid)],
        }
        self.report.scale = figures
        self._stop(second)
        self._stop(first)

    # ---- 6. pipeline overhead --------------------------------------------------------------

    async def stage_pipeline(self) -> None:
        prefix = await self._topics("pipeline")
        n = self.sizes.pipeline
        sandbox_url = await self._sandbox_url()
        async with httpx.AsyncClient(base_url=sandbox_url, timeout=30, headers=self.control) as http:
            await http.post("/_sandbox/reset")
        escalation = await self._service("escalation", prefix, ["services.escalation", "run"])
        gatekeeper = await self._service("gatekeeper", prefix, ["services.gatekeeper", "run"])
        await self._preload(prefix, n, [(escalation, ESCALATION_STATE), (gatekeeper, GATEKEEPER_STATE)])
        webhooks = await self._webhooks(prefix)
        worker = await self._sms_worker(prefix, sandbox_url, webhooks)
        procs = [escalation, gatekeeper, webhooks, worker]
        before = self.meter.read()
        started = time.time()
        await self.kafka.produce(prefix, events.overdue().each(range(n)))
        await self.kafka.wait_total(prefix + DISPATCH[Channel.SMS], n, _budget(n, 50), _alive(*procs))
        await self._quiet(prefix, sandbox_url, n, procs)
        usage = self._usage(before)
        cpu = usage["cpu_seconds"]
        services = ("escalation", "gatekeeper", "channels-sms", "webhooks", "sandbox")
        total = sum(cpu.get(name, 0.0) for name in services)
        self.report.pipeline = {
            "contacts": n,
            "seconds": round(time.time() - started, 2),
            "cpu_seconds_per_1000": round(total * 1000 / n, 2),
            "broker_cpu_seconds_per_1000": round(cpu.get("broker", 0.0) * 1000 / n, 2),
            **usage,
        }
        for proc in procs:
            self._stop(proc)

    # ---- building blocks -------------------------------------------------------------------

    async def _topics(self, stage: str) -> str:
        prefix = f"bench.{stage}."
        await apply(self.broker.local.settings("admin"), prefix=prefix)
        return prefix

    def _settings(self, prefix: str) -> CommonSettings:
        return self.broker.local.settings("admin", topic_prefix=prefix)

    def _env(self, prefix: str, instance: str) -> dict[str, str]:
        # Each process as its service's principal: the stage pays for what production pays (TLS, SCRAM).
        principal = instance if instance.startswith("channels-") else instance.split("-")[0]
        return self.broker.local.env(principal) | {
            "COLLECTIONS_TOPIC_PREFIX": prefix,
            "COLLECTIONS_CLOCK": f"file:{self.clock_file}",
            "COLLECTIONS_METRICS_PORT": "0",
            "COLLECTIONS_INSTANCE": instance,
            # Long enough that a worker frozen while its backlog is written keeps its partitions.
            "COLLECTIONS_SESSION_TIMEOUT_MS": "45000",
            "COLLECTIONS_HEARTBEAT_INTERVAL_MS": "3000",
            "GATEKEEPER_SIGNING_KEY": self.signing_key,
            "CHANNELS_APPROVAL_KEYS": self.approval_key,
        }

    async def _start(self, proc: Proc, role: str) -> Proc:
        """Start ``proc`` (its log is named after the stage's prefix); its CPU is counted under ``role``."""
        self._procs.append(proc)
        await asyncio.to_thread(proc.start)
        self.meter.watch(role, proc.pid)
        return proc

    def _stop(self, proc: Proc) -> None:
        proc.stop()
        self.meter.forget_pid(proc.pid)

    async def _service(self, name: str, prefix: str, args: list[str]) -> Proc:
        proc = Proc(prefix + name, args, self._env(prefix, name), "METRICS_READY", self.logs)
        return await self._start(proc, "gatekeeper" if name == "gatekeeper-1" else name)

    async def _sandbox_url(self) -> str:
        if self._sandbox is None:
            env = {
                "SANDBOX_HTTP_PORT": "0",
                "SANDBOX_SMTP_PORT": "0",
                "SANDBOX_AUTH_TOKENS": self.token,
                "SANDBOX_ADMIN_TOKEN": self.control["Authorization"].removeprefix("Bearer "),
                "SANDBOX_CLOCK": f"file:{self.clock_file}",
                "SANDBOX_LOG_LEVEL": "WARNING",
            }
            proc = Proc("sandbox", ["services.sandbox"], env, "SANDBOX_READY", self.logs)
            self._sandbox = await self._start(proc, "sandbox")
        return "http://" + self._sandbox.ready_line.split()[1].removeprefix("http=")

    async def _webhooks(self, prefix: str) -> Proc:
        port = free_port()
        env = self._env(prefix, "webhooks") | {
            "WEBHOOKS_PORT": str(port),
            "WEBHOOKS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "WEBHOOKS_TWILIO_AUTH_TOKENS": self.token,
            "WEBHOOKS_LINK_SIGNING_KEYS": self.link_key,
        }
        proc = Proc(f"{prefix}webhooks", ["services.webhooks", "run"], env, "WEBHOOKS_READY", self.logs)
        return await self._start(proc, "webhooks")

    async def _sms_worker(self, prefix: str, sandbox_url: str, webhooks: Proc) -> Proc:
        env = self._env(prefix, "channels-sms") | {
            "CHANNELS_TWILIO_BASE_URL": sandbox_url,
            "CHANNELS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "CHANNELS_TWILIO_AUTH_TOKEN": self.token,
            "CHANNELS_SMS_FROM": SMS_FROM,
            "CHANNELS_WEBHOOKS_BASE_URL": webhooks.ready_line.split()[-1],
            "CHANNELS_LINK_SIGNING_KEYS": self.link_key,
            # The worker's own pacing off: the figure is what the worker and the sandbox can do.
            "CHANNELS_RATE_PER_SECOND": "1000000",
            "CHANNELS_RATE_BURST": "100000",
        }
        args = ["services.channels", "run", "--channel", "sms"]
        proc = Proc(f"{prefix}channels-sms", args, env, "METRICS_READY", self.logs)
        return await self._start(proc, "channels-sms")

    async def _preload(self, prefix: str, debtors: int, services: list[tuple[Proc, str]]) -> None:
        """Profiles for ``debtors`` through the running services, until each has written their state."""
        await self.kafka.produce(prefix, events.profile().each(range(debtors)))
        for proc, state_topic in services:
            await self.kafka.wait_total(prefix + state_topic, debtors, _budget(debtors, 500), proc.check)

    async def _probe(self, prefix: str, records: list[events.Record], procs: list[Proc]) -> None:
        expected = await self.kafka.total(prefix + DECISIONS) + len(records)
        await self.kafka.produce(prefix, records)
        await self.kafka.wait_total(prefix + DECISIONS, expected, 300, _alive(*procs))

    async def _wait_restored(self, proc: Proc, procs: list[Proc], timeout: float = 600) -> None:
        """Until ``proc`` (joining a running group) has restored the partitions it took over."""
        deadline = time.monotonic() + timeout
        while not proc.restores():
            _alive(*procs)()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{proc.name} did not restore its partitions within {timeout}s")
            await asyncio.sleep(0.2)

    async def _drain(
        self,
        procs: list[Proc],
        prefix: str,
        backlog: list[events.Record],
        output: str,
        expected: int,
        per_event: int = 1,
    ) -> tuple[Drain, dict[str, float], dict[str, dict[str, float]]]:
        """Freeze ``procs``, write the backlog, thaw them and time them until ``expected`` more records are on
        ``output``: the drain runs from the thaw to the broker timestamp of the last output."""
        target = await self.kafka.total(prefix + output) + expected
        for proc in procs:
            proc.freeze()
        try:
            await self.kafka.produce(prefix, backlog)
        finally:
            for proc in procs:
                proc.thaw()
        started = time.time()
        before = self.meter.read()
        profiler = Profiler(self.out / f"profile-{procs[0].name}.txt") if self.profile else None
        if profiler is not None:
            profiler.start(procs[0].pid)
        await self.kafka.wait_total(prefix + output, target, _budget(len(backlog), 100), _alive(*procs))
        cpu = self._cpu(before)
        top = profiler.stop() if profiler is not None else {}
        last = last_timestamp(await self.kafka.read(prefix + output), started)
        return Drain(expected // per_event, started, last), cpu, top

    async def _count_decisions(self, prefix: str, marker: bytes) -> int:
        records = await self.kafka.read(prefix + DECISIONS)
        return len([r for r in records if marker in (r.value or b"")])

    async def _sandbox_capacity(self, url: str) -> dict[str, Any]:
        """Creates straight at the sandbox over httpx, no callbacks: one at a time, and as many in flight as
        the SMS worker keeps (its default), which shows what the HTTP client itself costs."""
        figures: dict[str, Any] = {"creates": self.sizes.sandbox, "in_flight": SMS_IN_FLIGHT}
        for label, in_flight in (("serial", 1), ("concurrent", SMS_IN_FLIGHT)):
            before = self.meter.read()
            seconds, failures = await _create_messages(
                url, self.token, self.control, self.sizes.sandbox, in_flight
            )
            figures[label] = {
                "creates_per_s": round(self.sizes.sandbox / seconds, 1),
                "failures": failures,
                **self._usage(before),
            }
        figures["creates_per_s"] = max(
            figures["serial"]["creates_per_s"], figures["concurrent"]["creates_per_s"]
        )
        return figures

    async def _quiet(self, prefix: str, sandbox_url: str, contacts: int, procs: list[Proc]) -> None:
        """Until every contact is sent, every callback delivered and every consumer has committed all."""
        groups = {
            prefix + "escalation": [prefix + t for t in Escalation.input_topics],
            prefix + "gatekeeper": [prefix + t for t in Gatekeeper.input_topics],
            prefix + "channels-sms": [prefix + DISPATCH[Channel.SMS]],
        }
        deadline = time.monotonic() + _budget(contacts, 50)
        calm = 0
        async with httpx.AsyncClient(base_url=sandbox_url, timeout=30, headers=self.control) as http:
            while calm < 3:
                _alive(*procs)()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"pipeline not quiet after {contacts} contacts")
                sent = (await http.get("/_sandbox/messages", params={"after": str(contacts - 1)})).json()
                idle = not any((await http.get("/_sandbox/idle")).json().values())
                lags = [await self.kafka.lag(group, topics) for group, topics in groups.items()]
                calm = calm + 1 if sent["messages"] and idle and not any(lags) else 0
                await asyncio.sleep(0.2)

    def _cpu(self, before: CpuReading) -> dict[str, float]:
        return CpuMeter.between(before, self.meter.read())

    def _usage(self, before: CpuReading) -> dict[str, Any]:
        """CPU seconds per process since ``before``, and how busy other users kept the machine meanwhile."""
        after = self.meter.read()
        cpu = CpuMeter.between(before, after)
        return {"cpu_seconds": cpu, "others_load": others_load(cpu, after.wall - before.wall)}

    def _stop_all(self) -> None:
        for proc in reversed(self._procs):
            self._stop(proc)


# ---- helpers -----------------------------------------------------------------------------------


async def _create_messages(
    url: str, token: str, control: dict[str, str], count: int, in_flight: int
) -> tuple[float, int]:
    """``count`` message creates, ``in_flight`` at a time; returns the seconds taken and the failures."""
    limits = httpx.Limits(max_connections=in_flight)
    failures = 0
    async with httpx.AsyncClient(base_url=url, auth=(ACCOUNT_SID, token), timeout=30, limits=limits) as http:
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        queue = iter(range(count))

        async def client() -> None:
            nonlocal failures
            for i in queue:
                form = {"To": events.phone(i), "From": SMS_FROM, "Body": "Example Bank: please call us."}
                if (await http.post(path, data=form)).status_code != 201:
                    failures += 1

        started = time.time()
        await asyncio.gather(*(client() for _ in range(in_flight)))
        seconds = time.time() - started
        await http.post("/_sandbox/reset", headers=control)
    return seconds, failures


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _budget(events_count: int, floor_rate: float) -> float:
    """A generous bound on how long a step may take: never below 120 s, else ``floor_rate`` events/s."""
    return max(120.0, events_count / floor_rate)


def _alive(*procs: Proc) -> Any:
    def check() -> None:
        for proc in procs:
            proc.check()

    return check


def _field(value: bytes | None, name: bytes) -> bytes:
    """A top-level string field of a JSON value, without decoding the whole event."""
    return str(orjson.loads(value or b"{}").get(name.decode(), "")).encode()


def _drain_figures(drain: Drain) -> dict[str, Any]:
    return {
        "events": drain.events,
        "seconds": round(drain.seconds, 2),
        "events_per_s": round(drain.per_second, 1),
    }


def _per_partition(indexes: range, sets: int) -> list[list[int]]:
    """``sets`` lists of debtor indexes, each with one debtor on every partition."""
    found: list[list[int]] = [[] for _ in range(sets)]
    taken: list[set[int]] = [set() for _ in range(sets)]
    for index in indexes:
        partition = partition_of(events.debtor_id(index).encode(), PARTITIONS)
        for chosen, seen in zip(found, taken, strict=True):
            if partition not in seen:
                seen.add(partition)
                chosen.append(index)
                break
        if all(len(seen) == PARTITIONS for seen in taken):
            return found
    raise ValueError("not enough debtors to cover every partition")


STAGES = [
    "baseline",
    "signing",
    "escalation",
    "gatekeeper",
    "sms",
    "end-of-day",
    "latency",
    "scale",
    "pipeline",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the same figures at a smaller size (< 3 min)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in run order")
    parser.add_argument("--profile", action="store_true", help="sample escalation and gatekeeper with py-spy")
    parser.add_argument(
        "--security",
        choices=("on", "off", "both"),
        default="on",
        help="the broker with TLS, SCRAM and ACLs (on, as deployed), PLAINTEXT (off), or both one after the "
        "other in this run, to compare",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    # The clients log every retry while the fresh broker elects coordinators; the figures say what matters.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sizes = QUICK if args.quick else FULL
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages: {', '.join(sorted(unknown))}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mode = "quick" if args.quick else "full"
    secure = {"on": [True], "off": [False], "both": [True, False]}[args.security]
    reports = [
        _run(args.out / f"run-{stamp}{'' if on else '-insecure'}", sizes, stages, mode, on, args.profile)
        for on in secure
    ]
    report = reports[0]
    if len(reports) == 2:
        report.compare_security(reports[1])
    # A quick run does not overwrite the day's full figures.
    path = args.out / f"bench-{time.strftime('%Y-%m-%d')}{'-quick' if args.quick else ''}.json"
    path.write_bytes(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2))
    print(report.table())
    print(f"\nwritten to {path} (services' logs in {args.out / f'run-{stamp}'}*/logs)")
    return 0


def _run(run_dir: Path, sizes: Sizes, stages: list[str], mode: str, secure: bool, profile: bool) -> Report:
    """Every stage on a fresh broker in ``run_dir``: secure as deployed, or PLAINTEXT without ACLs."""
    broker = LocalKafka(run_dir / "kafka", insecure=not secure)
    started = time.monotonic()
    _say(f"{mode} run, security {'on' if secure else 'off'}, broker in {run_dir / 'kafka'}")
    broker.start()
    try:
        assert broker.process is not None
        bench = Bench(
            Broker(broker, broker.process.pid, run_dir / "kafka" / "data"), run_dir, sizes, profile=profile
        )
        report = asyncio.run(bench.run(stages))
    finally:
        broker.stop()
        # Gigabytes of topic data nobody reads again; the broker's and the services' logs stay.
        shutil.rmtree(run_dir / "kafka" / "data", ignore_errors=True)
    report.finish(mode, time.monotonic() - started, secure=secure)
    return report


if __name__ == "__main__":
    sys.exit(main())
