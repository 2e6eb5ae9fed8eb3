"""The send ledger: which request ids a channel worker has claimed, sent or finished, durable on the
compacted topic ``collections.sender.ledger.v1``.

A claim is written, and acknowledged by every in-sync replica, before the provider is called; the result,
with what its outcome says, is acknowledged before the outcome is published, so that whoever finds a
finished entry can publish its outcome again. Entries live on the ledger partition with the number of the
dispatch partition the request came from, so a worker restores exactly the entries of the partitions it is
assigned, before it reads a single approval from them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.vocab import Channel, OutcomeStatus
from services.channels.outcomes import Result

log = logging.getLogger(__name__)

LEDGER = "collections.sender.ledger.v1"


class LedgerState(StrEnum):
    CLAIMED = "claimed"  # the provider is being called, or was: it may have created the message
    SENT = "sent"  # the provider has it (provider_ref); the outcome follows
    DONE = "done"  # finished without a send (failed, expired, opted out); the outcome follows
    UNKNOWN = "unknown"  # could not be reconciled: never sent again; the outcome says unknown


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    channel: Channel
    state: LedgerState
    attempt: int = 0
    destination: str
    # Recognises the message on a lookup: a digest of what was sent, never the text itself.
    digest: str = ""
    claimed_at: AwareDatetime
    # Wall-clock epoch seconds after which no create of this claim can still be in flight.
    lease_until: float = 0.0
    provider_ref: str = ""
    outcome: OutcomeStatus | None = None
    # The rest of the outcome of a finished request, to publish it again if a crash came first.
    final: bool = False
    error_code: str | None = None
    detail: str = ""
    segments: int = 0
    cost: Decimal = Decimal(0)
    valid_until: AwareDatetime

    @property
    def settled(self) -> bool:
        return self.state is not LedgerState.CLAIMED

    def result(self) -> Result | None:
        """What the outcome of a finished request said."""
        if self.outcome is None:
            return None
        return Result(
            self.outcome,
            self.final,
            provider_ref=self.provider_ref,
            error_code=self.error_code,
            detail=self.detail,
            segments=self.segments,
            cost=self.cost,
        )


class SendLedger:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        restorer: AIOKafkaConsumer,
        topic: str,
        channel: Channel,
        retention: timedelta,
    ) -> None:
        self._producer = producer
        self._restorer = restorer
        self.topic = topic
        self.channel = channel
        self.retention = retention
        self._entries: dict[int, dict[str, LedgerEntry]] = {}

    def get(self, partition: int, request_id: str) -> LedgerEntry | None:
        return self._entries.get(partition, {}).get(request_id)

    def provider_refs(self, partition: int, destination: str) -> set[str]:
        """References already attributed to requests to ``destination``: a lookup must not take them."""
        return {
            entry.provider_ref
            for entry in self._entries.get(partition, {}).values()
            if entry.destination == destination and entry.provider_ref
        }

    async def write(self, partition: int, entry: LedgerEntry) -> asyncio.Future[Any]:
        """Record ``entry``; the returned future resolves once the broker has acknowledged it."""
        self._entries.setdefault(partition, {})[entry.request_id] = entry
        delivery: asyncio.Future[Any] = await self._producer.send(
            self.topic,
            entry.model_dump_json().encode(),
            key=self._key(entry.request_id),
            partition=partition,
        )
        return delivery

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
                if self._expired(entry, now):
                    del entries[request_id]
                    pending.append(await self._tombstone(partition, request_id))
        await asyncio.gather(*pending)
        return len(pending)

    def _expired(self, entry: LedgerEntry, now: datetime) -> bool:
        # Any redelivery of this approval is long expired and would not be sent: the entry is not needed.
        return entry.settled and entry.valid_until + self.retention < now

    async def _tombstone(self, partition: int, request_id: str) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = await self._producer.send(
            self.topic, None, key=self._key(request_id), partition=partition
        )
        return delivery

    async def restore(self, partitions: Iterable[int], now: datetime) -> None:
        """Read the ledger partitions from the beginning; prune entries long finished."""
        tps = [TopicPartition(self.topic, p) for p in partitions if p not in self._entries]
        if not tps:
            return
        started = time.perf_counter()
        self._restorer.assign(tps)
        await self._restorer.seek_to_beginning(*tps)
        ends = await self._restorer.end_offsets(tps)
        restored: dict[int, dict[str, LedgerEntry]] = {tp.partition: {} for tp in tps}
        prefix = f"{self.channel.value}:".encode()
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await self._restorer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                entries = restored[tp.partition]
                for record in records:
                    if record.key is None or not record.key.startswith(prefix):
                        continue
                    request_id = record.key[len(prefix) :].decode()
                    if record.value is None:
                        entries.pop(request_id, None)
                    else:
                        entries[request_id] = LedgerEntry.model_validate_json(record.value)
            for tp in list(remaining):
                if await self._restorer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        self._restorer.assign([])
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


def lease_until(seconds: float) -> float:
    return time.time() + seconds
