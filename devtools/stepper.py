"""Drives the stepped shared clock: simulated time moves on only when the whole pipeline is idle.

Idle means: every consumer group of the pipeline has committed up to the end of every partition it reads,
every service has acknowledged (``write_ack``) the current instant, and every extra probe says idle: the
demo's probe asks the provider sandbox, which counts a callback it could not deliver yet (the webhooks down)
as pending until it is delivered, so an outage holds simulated time instead of moving it. Results then do
not depend on machine speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from services.core.clock import write_stepped
from services.core.runtime import clients
from services.core.runtime.clients import partitions
from services.core.settings import CommonSettings

Probe = Callable[[], Awaitable[bool]]


def uncommitted(tps: Iterable[Any], ends: dict[Any, int], committed: dict[Any, Any]) -> int:
    """Records of ``tps`` before their ``ends`` that a consumer group's ``committed`` offsets do not cover."""
    lag = 0
    for tp in tps:
        meta = committed.get(tp)
        lag += max(0, ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0))
    return lag


class Stepper:
    def __init__(
        self,
        settings: CommonSettings,
        clock_file: Path,
        ack_dir: Path,
        groups: dict[str, list[str]],
        services: Iterable[str],
        probes: Iterable[Probe] = (),
    ) -> None:
        self.clock_file = clock_file
        self.ack_dir = ack_dir
        self.groups = groups  # consumer group -> the (prefixed) topics it reads
        self.services = list(services)
        self.probes = list(probes)
        self.now: datetime | None = None
        self._probed: list[bool] = []  # what each probe said at the last reading
        # A driver of the whole pipeline: it needs to see every group's offsets (the admin principal).
        self._admin = clients.admin(settings, "stepper")
        self._tps: dict[str, list[Any]] | None = None
        self._ends = clients.consumer(settings, None, "stepper")

    async def __aenter__(self) -> Stepper:
        await self._admin.start()
        await self._ends.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.close()
        await self._ends.stop()

    async def step_to(self, instant: datetime, timeout: float = 60.0) -> None:
        """Set the clock to ``instant`` and return once the pipeline has done everything due by then."""
        self.move(instant)
        await self.wait_idle(timeout)

    def move(self, instant: datetime) -> None:
        """Set the clock to ``instant`` without waiting; the services start on what is due by then."""
        write_stepped(self.clock_file, instant)
        self.now = instant

    async def wait_idle(self, timeout: float = 60.0, alive: Callable[[], None] = lambda: None) -> None:
        """Wait until idle; ``alive`` is called between readings and may raise if a service died."""
        deadline = time.monotonic() + timeout
        calm = 0
        # Two idle readings in a row: work can be in flight between a commit and the next fetch.
        while calm < 2:
            alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline not idle within {timeout:.0f}s: {await self.describe()}")
            calm = calm + 1 if await self.idle() else 0
            await asyncio.sleep(0.03)

    async def idle(self) -> bool:
        # Probes at every reading, even while the rest is busy: a probe may act for the simulated customers
        # (answer a call waiting at its menu), and how soon it does must not depend on how long the rest
        # takes. Then the cheap check (acknowledgements are files), then lag (asks the broker).
        self._probed = [await probe() for probe in self.probes]
        if not all(self._probed) or self.unacked():
            return False
        return not await self.lagging()

    def next_due(self) -> datetime | None:
        """The earliest scheduled instant any service reported, so the driver can jump straight to it."""
        dues = []
        for name in self.services:
            ack = self._ack(name)
            if ack and ack.get("next_due"):
                dues.append(datetime.fromisoformat(ack["next_due"]))
        return min(dues) if dues else None

    def unacked(self) -> list[str]:
        if self.now is None:
            return []
        return [
            name
            for name in self.services
            if (ack := self._ack(name)) is None or datetime.fromisoformat(ack["seen"]) < self.now
        ]

    async def lagging(self) -> dict[str, int]:
        if self._tps is None:
            self._tps = {
                g: [tp for t in topics for tp in await partitions(self._ends, t)]
                for g, topics in self.groups.items()
            }
        every = sorted({tp for tps in self._tps.values() for tp in tps})
        ends, *committed = await asyncio.gather(
            self._ends.end_offsets(every),
            *(self._committed(group) for group in self.groups),
        )
        behind: dict[str, int] = {}
        for (group, tps), offsets in zip(self._tps.items(), committed, strict=True):
            if offsets is None:
                behind[group] = -1  # coordinator not ready yet (fresh broker): not idle
                continue
            lag = uncommitted(tps, ends, offsets)
            if lag:
                behind[group] = lag
        return behind

    async def _committed(self, group: str) -> dict[Any, Any] | None:
        try:
            return dict(await self._admin.list_consumer_group_offsets(group))
        except KafkaError:
            return None

    async def describe(self) -> str:
        busy = [
            getattr(p, "__name__", repr(p))
            for p, idle in zip(self.probes, self._probed, strict=False)
            if not idle
        ]
        return f"lagging={await self.lagging()} unacked={self.unacked()} probes not idle={busy}"

    def _ack(self, name: str) -> dict[str, str] | None:
        try:
            raw: dict[str, str] = orjson.loads((self.ack_dir / f"{name}.ack").read_bytes())
        except FileNotFoundError:
            return None
        return raw
