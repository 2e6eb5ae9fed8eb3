"""Reading topics without a consumer group: from the beginning up to the end offsets of the moment the read
starts, then, for readers that follow a topic, on from there. It commits nothing and disturbs no service.

Every "read it all first" in the platform goes through here: a stateful stage restoring its changelog, a
channel worker restoring its send ledger, the gatekeeper's controls, the webhooks' directory, reports and
audits, and the redrive command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType

from aiokafka import TopicPartition

from services.core.runtime import clients
from services.core.runtime.transport import Consumer, Record
from services.core.settings import CommonSettings


class ReadTimeout(Exception):
    """The read did not reach the end offsets in time (the broker stopped answering, or fell far behind)."""


class TopicReader:
    """A consumer without a group, assigned the partitions it reads."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    @classmethod
    def connect(cls, settings: CommonSettings, client_id: str, *, large: bool = False) -> TopicReader:
        """A reader on the broker; ``large`` for reads of whole logs (bigger fetches, dead letters too)."""
        extra: dict[str, object] = (
            {"fetch_max_bytes": 33_554_432, "max_partition_fetch_bytes": 8_388_608} if large else {}
        )
        return cls(clients.consumer(settings, None, client_id, **extra))

    async def start(self) -> None:
        try:
            await self.consumer.start()
        except BaseException:
            # A consumer that could not reach the broker still holds its client: close it, not leak it.
            await self.consumer.stop()
            raise

    async def stop(self) -> None:
        await self.consumer.stop()

    async def __aenter__(self) -> TopicReader:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        return await clients.partitions(self.consumer, topic)

    async def replay(
        self, partitions: Sequence[TopicPartition], *, timeout: float | None = None, max_records: int = 10_000
    ) -> AsyncIterator[list[Record]]:
        """Assign ``partitions`` and yield their records, each partition from its beginning up to the end
        offset it had when the replay started, in batches (in order within a partition). Afterwards the
        reader stays positioned at those end offsets, so ``poll`` goes on from there."""
        self.consumer.assign(partitions)
        if not partitions:
            return
        await self.consumer.seek_to_beginning(*partitions)
        ends = await self.consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = None if timeout is None else time.monotonic() + timeout
        while remaining:
            if deadline is not None and time.monotonic() > deadline:
                raise ReadTimeout(f"{len(remaining)} partitions not read to their end within {timeout:.0f}s")
            batch = await self.consumer.getmany(*remaining, timeout_ms=500, max_records=max_records)
            for tp, records in batch.items():
                end = ends[tp]
                if records[-1].offset >= end:
                    # Written after the replay began: not part of it. Leave them for ``poll``.
                    records = [r for r in records if r.offset < end]
                    self.consumer.seek(tp, end)
                if records:
                    yield records
            for tp in list(remaining):
                if await self.consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)

    async def poll(self, timeout_ms: int, max_records: int = 5_000) -> list[Record]:
        """What arrived on the assigned partitions since the last replay or poll."""
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [record for records in batch.values() for record in records]

    async def caught_up(self, timeout: float) -> bool:
        """Wait until what was published before this call has been read by a concurrent ``poll`` loop."""
        assigned = list(self.consumer.assignment())
        ends = await self.consumer.end_offsets(assigned)
        deadline = time.monotonic() + timeout
        while True:
            behind = [tp for tp in assigned if await self.consumer.position(tp) < ends[tp]]
            if not behind:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)

    def release(self) -> None:
        """Stop fetching (a restore is done; the next one assigns anew)."""
        self.consumer.assign([])
