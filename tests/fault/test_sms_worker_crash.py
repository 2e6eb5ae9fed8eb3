"""A worker process killed with SIGKILL in the middle of 1,000 dispatches, while the sandbox fails some
creates before and some after creating, then restarted: no request id reaches the sandbox twice, and every
request ends with exactly one final outcome.

The worker runs as a real process (``python -m services.channels run --channel sms``) so that it can be
killed; the sandboxes and the webhooks service run in the test process, all on one shared stepped clock.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from schemas import events as ev
from schemas.topics import OUTCOMES
from schemas.vocab import OutcomeStatus
from services.core.clock import SharedClock, write_stepped
from services.core.settings import CommonSettings
from services.webhooks.app import WebhooksApp
from tests.channels_support import (
    ACCOUNT_SID,
    SMS_FROM,
    START,
    Providers,
    approval,
    eventually,
    free_port,
    phone,
    sandbox,
    webhooks_settings,
)
from tests.conftest import Principal
from tests.support import APPROVAL_PUBLIC_KEY, Tail, kafka_env, publish

REQUESTS = 1000
KILL_AFTER = 350  # messages in the sandbox when the worker is killed
FAULT_KINDS = [
    "rate_limited",
    "error_before_create",
    "error_after_create",
    "timeout_before_create",
    "timeout_after_create",
]

pytestmark = pytest.mark.timeout(180)


class Worker:
    """``python -m services.channels run --channel sms`` with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.channels", "run", "--channel", "sms"],
                env=self.env,
                stdout=out,
                stderr=out,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
async def rig(
    settings: CommonSettings, principal: Principal, tmp_path: Path
) -> AsyncIterator[tuple[Providers, Worker]]:
    tokens, keys = [f"fake-{secrets.token_hex(12)}"], [f"link-{secrets.token_hex(16)}"]
    clock_file = tmp_path / "clock.json"
    write_stepped(clock_file, START)
    clock = SharedClock(clock_file)
    async with sandbox(
        tokens,
        clock,
        fault_ratio=0.15,
        fault_kinds=FAULT_KINDS,
        timeout_response_ms=1000,
        seed=7,
    ) as providers:
        hooks = WebhooksApp(principal("webhooks"), webhooks_settings(free_port(), tokens, keys), clock)
        await hooks.start()
        env = {
            **os.environ,
            **kafka_env(principal("channels-sms")),
            "COLLECTIONS_CLOCK": f"file:{clock_file}",
            "COLLECTIONS_SESSION_TIMEOUT_MS": "6000",
            "COLLECTIONS_HEARTBEAT_INTERVAL_MS": "1000",
            "COLLECTIONS_METRICS_PORT": "0",
            "CHANNELS_TWILIO_BASE_URL": providers.base_url,
            "CHANNELS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "CHANNELS_TWILIO_AUTH_TOKEN": tokens[0],
            "CHANNELS_SMS_FROM": SMS_FROM,
            "CHANNELS_WEBHOOKS_BASE_URL": hooks.hooks.base,
            "CHANNELS_LINK_SIGNING_KEYS": keys[0],
            "CHANNELS_APPROVAL_KEYS": APPROVAL_PUBLIC_KEY,
            # Short timeouts for the uncertain-create path: the sandbox holds a timed-out answer for 1 s.
            "CHANNELS_CREATE_TIMEOUT_SECONDS": "0.5",
            "CHANNELS_RECONCILE_DELAY_SECONDS": "0.1",
            "CHANNELS_BACKOFF_INITIAL_SECONDS": "0.05",
            "CHANNELS_BACKOFF_MAX_SECONDS": "0.5",
            "CHANNELS_MAX_ATTEMPTS": "8",
            "CHANNELS_RATE_PER_SECOND": "2000",
            "CHANNELS_RATE_BURST": "200",
            "CHANNELS_MAX_IN_FLIGHT": "16",
            "CHANNELS_MAX_BATCH": "100",
        }
        worker = Worker(env, tmp_path / "worker.log")
        try:
            yield providers, worker
        finally:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(10)
            await hooks.stop()


async def test_sigkill_mid_stream_sends_nothing_twice_and_every_request_ends_once(
    settings: CommonSettings, rig: tuple[Providers, Worker]
) -> None:
    providers, worker = rig
    approvals = [
        approval(f"d{i // 2}", f"r-{i:04d}", phone(i), template=("reminder", "second_reminder")[i % 2])
        for i in range(REQUESTS)
    ]
    started = time.monotonic()
    await publish(settings, approvals, time=START)
    worker.start()
    await eventually(lambda: _created(providers, KILL_AFTER), timeout=60, interval=0.02)
    worker.kill()
    killed_at = len(await providers.messages())
    assert killed_at < REQUESTS, "the worker finished before it could be killed mid-stream"

    worker.start()
    wanted = {a.request_id for a in approvals}
    async with Tail(settings, OUTCOMES) as tail:
        await tail.wait_for(lambda: _finished(tail) >= wanted, timeout=90)
        await eventually(providers.idle, timeout=30)
        await tail.settle()
    assert worker.stop() == 0
    elapsed = time.monotonic() - started

    messages = await providers.messages()
    per_request = Counter(m["request_id"] for m in messages)
    assert [rid for rid, count in per_request.items() if count > 1] == []
    assert set(per_request) <= wanted
    finals: defaultdict[str, set[tuple[str, OutcomeStatus]]] = defaultdict(set)
    for outcome in tail.of(ev.ContactOutcome):
        if outcome.final:
            finals[outcome.request_id].add((outcome.outcome_id, outcome.status))
    assert {rid for rid, ends in finals.items() if len(ends) != 1} == set()
    assert set(finals) == wanted
    delivered = {rid for rid, ends in finals.items() if next(iter(ends))[1] is OutcomeStatus.DELIVERED}
    assert delivered == set(per_request), "every message in the sandbox was delivered, and only those"
    faulted = Counter(m["fault"] for m in messages)
    assert faulted["error_after_create"] and faulted["timeout_after_create"], faulted
    restored = [line for line in worker.log.read_text().splitlines() if "claimed but unconfirmed" in line]
    print(f"\n{REQUESTS} requests, killed at {killed_at} sent, {len(delivered)} delivered in {elapsed:.1f}s")
    print("\n".join(restored))


async def _created(providers: Providers, at_least: int) -> bool:
    return len(await providers.messages()) >= at_least


def _finished(tail: Tail) -> set[str]:
    return {o.request_id for o in tail.of(ev.ContactOutcome) if o.final}
