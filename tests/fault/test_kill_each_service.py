"""SIGKILL of each service in turn while the simulated bank's flow runs, and a restart: every request still
ends once (sent, failed, blocked or expired), no request id reaches a provider twice, and the independent
audit finds no violation.

The services are killed one after the other in the order of ``ORDER``, at most one each time simulated time
moves or core banking publishes, each at a moment it has work in hand (uncommitted records; for a worker,
sends at the provider since; for the webhooks, callbacks on their way), and started again before simulated
time may move on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.demo import Hooks, Simulation
from tests.fault.stack import (
    CHANNELS,
    Platform,
    check_audit_clean,
    check_every_request_ends_once,
    check_nothing_twice_at_the_providers,
    summary,
    undelivered_reports,
    work_in_hand,
)

ORDER = ("escalation", "gatekeeper", "channels-sms", "channels-email", "channels-voice", "webhooks")
DAYS = 3
# Paced sends keep a worker's batch in hand long enough to be killed in the middle of it; a short create
# timeout keeps the lease on a dead worker's claims (timeout + 5 s) short.
WORKERS = {
    "CHANNELS_RATE_PER_SECOND": "25",
    "CHANNELS_RATE_BURST": "5",
    "CHANNELS_CREATE_TIMEOUT_SECONDS": "3",
}

pytestmark = pytest.mark.timeout(300)


@dataclass
class Killer:
    """The ``busy`` hook: kills the next service of ``order`` once it has work in hand."""

    platform: Platform
    order: list[str]
    kills: list[str] = field(default_factory=list)

    async def __call__(self, simulation: Simulation) -> None:
        if not self.order or simulation.day == 0:  # day 0: the profiles, before the first night
            return
        name = self.order[0]
        seen = await work_in_hand(simulation, name)
        if seen is None:
            return
        await self.platform.kill_and_restart(name)
        self.kills.append(f"{simulation.now:%b %d %H:%M} {name} ({seen})")
        self.order.pop(0)


async def test_sigkill_of_each_service_in_turn_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    started = time.monotonic()
    async with Platform(tmp_path / "stack", days=DAYS, env=dict.fromkeys(CHANNELS, WORKERS)) as platform:
        killer = Killer(platform, list(ORDER))
        played = await platform.play(Hooks(busy=killer))

    assert killer.order == [], f"never found with work in hand: {killer.order}; killed: {killer.kills}"
    result = check_every_request_ends_once(played, reports_lost=undelivered_reports(played))
    check_nothing_twice_at_the_providers(played)
    sends = check_audit_clean(played)
    print(f"\n{summary(played, result)}; audit checked {sends} sends in {time.monotonic() - started:.0f}s")
    print("\n".join(killer.kills))
