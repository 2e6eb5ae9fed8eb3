"""The webhooks service down while provider callbacks are on their way: the sandbox keeps sending them again,
the driver counts them as pending work, and simulated time does not move until the service is back and
every one is delivered. No request is left without its final outcome.

The outage lasts until the pipeline is otherwise idle (every group committed, every service acknowledged)
with callbacks still pending, for several readings in a row: the very moment at which a driver that did
not count undelivered callbacks would have moved the clock on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from devtools.demo import Hooks, Simulation
from tests.fault.stack import Platform, check_every_request_ends_once, summary, work_in_hand

DAYS = 2
READINGS = 10  # otherwise-idle readings with callbacks pending before the service comes back
# Retries that outlast the outage and the restart of a service on a busy machine.
SANDBOX = {"SANDBOX_CALLBACK_RETRIES": "40", "SANDBOX_CALLBACK_RETRY_MAX_MS": "2000"}

pytestmark = pytest.mark.timeout(300)


@dataclass
class Outage:
    """The ``busy`` hook: once, kills the webhooks while callbacks are on their way, and brings them back
    in the background once only those callbacks keep the pipeline from being idle."""

    platform: Platform
    killed_at: datetime | None = None
    restarted_at: datetime | None = None
    held: int = 0  # otherwise-idle readings with callbacks pending
    task: asyncio.Task[None] | None = None
    seen: list[str] = field(default_factory=list)

    async def __call__(self, simulation: Simulation) -> None:
        if self.task is not None or simulation.day == 0:
            return
        seen = await work_in_hand(simulation, "webhooks")
        if seen is None:
            return
        await asyncio.to_thread(self.platform.service("webhooks").kill)
        self.killed_at, self.seen = simulation.now, [seen]
        self.task = asyncio.create_task(self._back_once_only_callbacks_are_pending(simulation))

    async def _back_once_only_callbacks_are_pending(self, simulation: Simulation) -> None:
        stepper, http = simulation.stepper, simulation.http
        try:
            while self.held < READINGS:
                pending = (await http.get("/_sandbox/idle")).json()["pending_callbacks"]
                otherwise_idle = not stepper.unacked() and not await stepper.lagging()
                self.held = self.held + 1 if pending and otherwise_idle else 0
                assert simulation.now == self.killed_at, "the clock moved while the webhooks were down"
                await asyncio.sleep(0.05)
        finally:  # back in any case: a failed check shows as itself, not as a dead service
            self.restarted_at = simulation.now
            await asyncio.to_thread(self.platform.service("webhooks").start)


async def test_the_clock_waits_for_callbacks_while_the_webhooks_are_down(tmp_path: Path) -> None:
    async with Platform(tmp_path / "stack", days=DAYS, env={"sandbox": SANDBOX}) as platform:
        outage = Outage(platform)
        played = await platform.play(Hooks(busy=outage))
        assert outage.task is not None, "the webhooks never had callbacks on their way"
        await outage.task  # raises what the outage saw (the clock moving)

    assert outage.restarted_at == outage.killed_at
    retried = [
        cb
        for item in (*played.messages, *played.calls)
        for cb in item["callbacks"]
        if cb["kind"] == "status" and cb["attempts"] > 1
    ]
    assert retried, "no callback was refused during the outage"
    assert all(cb["http_status"] == 200 for cb in retried)
    result = check_every_request_ends_once(played)  # no report lost: none is allowed for
    print(f"\n{summary(played, result)}; {len(retried)} callbacks delivered after retries, {outage.seen}")
