"""A second gatekeeper process joins while the simulated bank's flow runs and later leaves (SIGTERM): two
rebalances mid-flow. No request id is approved twice on the dispatch topics (not even a redelivery), every
request ends once, nothing reaches a provider twice, and the independent audit finds no violation."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest

from devtools.demo import START, Hooks, Simulation
from devtools.processes import Service
from schemas import events as ev
from schemas.vocab import DecisionKind
from tests.fault.stack import (
    Platform,
    check_audit_clean,
    check_every_request_ends_once,
    check_nothing_twice_at_the_providers,
    summary,
    wait_for_members,
    work_in_hand,
)

DAYS = 2
# Core banking's first night, and its second: the second gatekeeper takes part in a whole day's flow.
JOIN_AT = datetime.combine(START, dtime(2), tzinfo=UTC)
LEAVE_AT = JOIN_AT + timedelta(days=1)

pytestmark = pytest.mark.timeout(240)


@dataclass
class SecondGatekeeper:
    """The ``busy`` hook: starts ``gatekeeper-2`` from ``JOIN_AT`` and stops it from ``LEAVE_AT``, each time
    while the gatekeeper group has records in hand, and waits for the rebalance to end before time moves."""

    platform: Platform
    process: Service | None = None
    decided: float = 0.0  # decisions the second process made while it was in the group
    steps: list[str] = field(default_factory=list)
    left: bool = False

    async def __call__(self, simulation: Simulation) -> None:
        joining = self.process is None and simulation.now >= JOIN_AT
        leaving = self.process is not None and not self.left and simulation.now >= LEAVE_AT
        if not (joining or leaving):
            return
        seen = await work_in_hand(simulation, "gatekeeper")
        if seen is None:
            return
        admin = self.platform.settings
        if joining:
            self.process = self.platform.second("gatekeeper", "gatekeeper-2")
            await asyncio.to_thread(self.process.start)
            # The stepper waits for its acknowledgements too while it is in the group.
            simulation.stepper.services.append("gatekeeper-2")
            await wait_for_members(admin, "gatekeeper", {"gatekeeper", "gatekeeper-2"})
        else:
            assert self.process is not None
            self.decided = await _decisions(self.process)
            await asyncio.to_thread(self.process.stop)
            assert self.process.process is not None and self.process.process.returncode == 0
            simulation.stepper.services.remove("gatekeeper-2")
            self.left = True
            await wait_for_members(admin, "gatekeeper", {"gatekeeper"})
        self.steps.append(f"{simulation.now:%b %d %H:%M} {'joined' if joining else 'left'} ({seen})")


async def _decisions(process: Service) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(process.ready_line.split()[-1])).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("collections_gatekeeper_decisions_total{")
    )


async def test_a_gatekeeper_joining_and_leaving_mid_flow_approves_nothing_twice(tmp_path: Path) -> None:
    started = time.monotonic()
    async with Platform(tmp_path / "stack", days=DAYS) as platform:
        second = SecondGatekeeper(platform)
        played = await platform.play(Hooks(busy=second))

    assert second.left, f"the second gatekeeper did not both join and leave: {second.steps}"
    assert second.decided > 0, "the second gatekeeper decided nothing while it was in the group"
    approvals = Counter(a.request_id for a in played.records(ev.ContactApproved))
    assert {rid: n for rid, n in approvals.items() if n > 1} == {}, "approved twice on the dispatch topics"
    allowed = Counter(
        d.request_id for d in played.events(ev.ComplianceDecision) if d.decision is DecisionKind.ALLOW
    )
    assert {rid: n for rid, n in allowed.items() if n > 1} == {}, "allowed twice"
    assert set(allowed) == set(approvals)
    result = check_every_request_ends_once(played)
    check_nothing_twice_at_the_providers(played)
    sends = check_audit_clean(played)
    print(
        f"\n{summary(played, result)}; {len(approvals)} approvals, {second.decided:.0f} decided by "
        f"gatekeeper-2; audit checked {sends} sends in {time.monotonic() - started:.0f}s"
    )
    print("\n".join(second.steps))
