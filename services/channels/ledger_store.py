"""The send ledger on its compacted topic (``collections.sender.ledger.v1``), one channel's entries.

Entries live on the ledger partition with the number of the dispatch partition the request came from, so a
worker restores exactly the entries of the partitions it is assigned, before it reads a single approval
from them. Writes go through the runtime's publisher and are awaited one by one where the protocol says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from schemas.vocab import Channel
from services.channels.ledger import LedgerEntry
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader

log = logging.getLogger(__name__)


class SendLedger:
    def __init__(
        self,
        publisher: Publisher,
        restorer: TopicReader,
        topic: str,
        channel: Channel,
        retention: timedelta,
    ) -> None:
        self._publisher = publisher
        self._restorer = restorer
        self.topic = topic
        self.channel = channel
        self.retention = retention
        self._entries: dict[int, dict[str, LedgerEntry]] = {}

    async def close(self) -> None:
        await self._restorer.stop()

    def get(self, partition: int, request_id: str) -> LedgerEntry | None:
        return self._entries.get(partition, {}).get(request_id)

    def provider_refs(self, partition: int, destination: str) -> set[str]:
        """References already attributed to requests to ``destination``: a lookup must not take them."""
        return {
            entry.provider_ref
            for entry in self._entries.get(partition, {}).values()
            if entry.destination == destination and entry.provider_ref
        }

    def awaiting_final(self, sent_by: datetime) -> list[tuple[int, LedgerEntry]]:
        """Sends made at or before ``sent_by`` whose final status has not come, oldest first."""
        found = [
            (partition, entry)
            for partition, entries in self._entries.items()
            for entry in entries.values()
            if entry.awaiting_final and entry.claimed_at <= sent_by
        ]
        return sorted(found, key=lambda item: item[1].claimed_at)

    def first_awaiting(self, sent_after: datetime) -> datetime | None:
        """When the oldest send made after ``sent_after`` and still awaiting its final status was made."""
        return min(
            (
                e.claimed_at
                for entries in self._entries.values()
                for e in entries.values()
                if e.awaiting_final and e.claimed_at > sent_after
            ),
            default=None,
        )

    async def write(self, partition: int, entry: LedgerEntry) -> asyncio.Future[Any]:
        """Record ``entry``; the returned future resolves once the broker has acknowledged it."""
        self._entries.setdefault(partition, {})[entry.request_id] = entry
        return await self._publisher.send(
            self.topic, self._key(entry.request_id), entry.model_dump_json().encode(), (), partition
        )

    def _key(self, request_id: str) -> bytes:
        return f"{self.channel.value}:{request_id}".encode()

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._entries.pop(partition, None)

    async def prune(self, now: datetime) -> int:
        """Drop (and tombstone) the entries of requests finished long ago; returns how many."""
        pending = []
        for partition, entries in self._entries.items():
            for request_id, entry in list(entries.items()):
                if entry.expired(now, self.retention):
                    del entries[request_id]
                    pending.append(await self._tombstone(partition, request_id))
        await asyncio.gather(*pending)
        return len(pending)

    async def _tombstone(self, partition: int, request_id: str) -> asyncio.Future[Any]:
        return await self._publisher.send(self.topic, self._key(request_id), None, (), partition)

    async def restore(self, partitions: Iterable[int], now: datetime) -> None:
        """Read the ledger partitions from the beginning; prune entries long finished."""
        tps = [TopicPartition(self.topic, p) for p in partitions if p not in self._entries]
        if not tps:
            return
        started = time.perf_counter()
        restored: dict[int, dict[str, LedgerEntry]] = {tp.partition: {} for tp in tps}
        prefix = f"{self.channel.value}:".encode()
        async for records in self._restorer.replay(tps):
            entries = restored[records[0].partition]
            for record in records:
                if record.key is None or not record.key.startswith(prefix):
                    continue
                request_id = record.key[len(prefix) :].decode()
                if record.value is None:
                    entries.pop(request_id, None)
                else:
                    entries[request_id] = LedgerEntry.model_validate_json(record.value)
        self._restorer.release()
        self._entries.update(restored)
        await self.prune(now)
        claimed = sum(1 for entries in restored.values() for e in entries.values() if not e.settled)
        log.info(
            "ledger restored partitions %s: %d entries, %d claimed but unconfirmed, in %.2fs",
            sorted(restored),
            sum(len(entries) for entries in restored.values()),
            claimed,
            time.perf_counter() - started,
        )
