"""Keyed, partition-local state for pure handlers: the stage behind escalation and the gatekeeper.

Each debtor's state lives on the partition its records arrive on, in memory, backed by a compacted changelog
topic written to the same partition number. The runtime's loop hands a batch over; each record is applied
once per ``ce_id`` (each state remembers its last ``SEEN_IDS`` ids), due work runs, and every changed state
is written to the changelog once, at the end of the batch, before the loop flushes and commits. On
assignment a partition's state is restored from its changelog; due items (deferred requests, next ladder
steps) sit in a per-partition schedule restored from the changelog's ``due`` header, so a tick costs the due
items, not all cases.

Handlers are pure: they return the new state, the events to publish and what to count; this stage
publishes and counts. A handler may also give a record up: ``Reject`` dead-letters the record being applied
with a reason of its own, and ``Result.dead_letters`` the records it had kept in its state (held until
something else arrived). Records are keyed by debtor unless the stage is given another ``key`` (an adapter
keeps its state per loan). On open, the changelog must have at least as many partitions as every input
topic: a partition's state lives at the same partition number. Why not Faust tables: see
docs/adr/0001-stream-processing.md.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from services.core import codec
from services.core.runtime.handler import Handler, Letter, Meter, Reject, Result, St
from services.core.runtime.reader import TopicReader
from services.core.settings import ConfigError

if TYPE_CHECKING:
    from services.core.runtime.loop import Inbound, Runtime

log = logging.getLogger(__name__)

SEEN_IDS = 32


@dataclass(slots=True)
class _Entry:
    """A debtor's state as last persisted (``value``), or, between a change and the end of its batch, the
    changed state itself (``live``): it is serialized and written to the changelog once per batch."""

    value: bytes
    due: float | None
    seen: bytes
    scheduled: int = 0
    live: BaseModel | None = None


class PartitionStore:
    """One partition's states (serialized), seen-id digests and schedule."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.scheduled = 0
        self._heap: list[tuple[float, str]] = []

    def put(self, key: str, entry: _Entry | None) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.scheduled -= old.scheduled
        if entry is None:
            return
        self.entries[key] = entry
        self.scheduled += entry.scheduled
        if entry.due is not None:
            heapq.heappush(self._heap, (entry.due, key))

    def pop_due(self, now: float) -> list[str]:
        """Keys due at or before ``now``; stale heap entries (rescheduled or deleted) are dropped."""
        keys: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            entry = self.entries.get(key)
            if entry is not None and entry.due == due and key not in keys:
                keys.append(key)
        return keys

    def next_due(self) -> float | None:
        while self._heap:
            due, key = self._heap[0]
            entry = self.entries.get(key)
            if entry is not None and entry.due == due:
                return due
            heapq.heappop(self._heap)
        return None


def _record(letter: Letter) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
        timestamp=0,
        timestamp_type=0,
        key=letter.key,
        value=letter.value,
        checksum=None,
        serialized_key_size=len(letter.key) if letter.key is not None else -1,
        serialized_value_size=len(letter.value) if letter.value is not None else -1,
        headers=(),
    )


def _digest(ce_id: str) -> bytes:
    return hashlib.blake2b(ce_id.encode(), digest_size=8).digest()


def _remember(seen: bytes, digest: bytes) -> bytes:
    return (seen + digest)[-8 * SEEN_IDS :]


def _was_seen(seen: bytes, digest: bytes) -> bool:
    return any(seen[i : i + 8] == digest for i in range(0, len(seen), 8))


def debtor_key(envelope: codec.Envelope[BaseModel]) -> str:
    return codec.key_of(envelope.event)


class KeyedStage(Generic[St]):
    """Runs a pure ``Handler`` on the runtime: apply, schedule, persist state, publish, count. ``key`` says
    which state a record applies to (by default its debtor's)."""

    stuck_after = 30.0

    def __init__(
        self,
        handler: Handler[St],
        meter: Meter | None = None,
        key: Callable[[codec.Envelope[BaseModel]], str] = debtor_key,
    ) -> None:
        self.handler = handler
        self.meter = meter
        self.key = key
        self.service = handler.service
        self.input_topics = handler.input_topics
        self.stores: dict[int, PartitionStore] = {}
        self._dirty: dict[tuple[int, str], _Entry] = {}
        self._runtime: Runtime | None = None
        self._restorer: TopicReader | None = None

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the stage is not open"
        return self._runtime

    # ---- the stage's hooks -------------------------------------------------------------------

    async def open(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._restorer = runtime.reader("restore")
        await self._restorer.start()
        await self._check_partitions()

    async def _check_partitions(self) -> None:
        """A record's state is written to the changelog partition of the record's own number: with fewer
        changelog partitions, the state of the others would have nowhere to go."""
        assert self._restorer is not None
        changelog = len(await self._restorer.partitions(self._state_topic))
        for topic in self.input_topics:
            inputs = len(await self._restorer.partitions(self.runtime.settings.topic(topic)))
            if changelog < inputs:
                raise ConfigError(
                    f"{self.handler.state_topic} has {changelog} partitions, fewer than the {inputs} of "
                    f"{topic}, which {self.service} keeps its state beside"
                )

    async def close(self) -> None:
        if self._restorer is not None:
            await self._restorer.stop()

    async def assigned(self, partitions: set[int]) -> None:
        await self._restore(sorted(partitions - set(self.stores)))

    async def revoked(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.stores.pop(partition, None)
        self._dirty = {k: e for k, e in self._dirty.items() if k[0] not in partitions}

    async def handle(self, batch: list[Inbound], now: datetime) -> Mapping[TopicPartition, int]:
        for inbound in batch:
            store = self.stores.get(inbound.partition)
            if store is not None:
                self._apply(inbound, store, now)
        self._run_due(now)
        self._persist_dirty()
        return {}

    def next_due(self) -> datetime | None:
        dues = [d for d in (store.next_due() for store in self.stores.values()) if d is not None]
        return datetime.fromtimestamp(min(dues), tz=self.runtime.clock.now().tzinfo) if dues else None

    def scheduled(self) -> int:
        return sum(store.scheduled for store in self.stores.values())

    # ---- processing ------------------------------------------------------------------------

    def _apply(self, inbound: Inbound, store: PartitionStore, now: datetime) -> None:
        envelope = inbound.envelope
        key = self.key(envelope)
        entry = store.entries.get(key)
        digest = _digest(envelope.id)
        if entry is not None and _was_seen(entry.seen, digest):
            self.runtime.metrics.duplicates.labels(self.service).inc()
            return
        try:
            result = self.handler.apply(key, self._load(entry), envelope, now)
        except Reject as exc:
            self.runtime.dead_letter(inbound.record, exc.reason, exc.message, now)
            return
        except Exception as exc:
            log.exception(
                "%s could not process %s at %s-%d@%d",
                self.service,
                envelope.type,
                inbound.topic,
                inbound.partition,
                inbound.offset,
            )
            self.runtime.dead_letter(inbound.record, "processing_error", f"{type(exc).__name__}: {exc}", now)
            return
        seen = _remember(entry.seen if entry else b"", digest)
        self._store(inbound.partition, store, key, result, seen, now)

    def _run_due(self, now: datetime) -> None:
        instant = now.timestamp()
        for partition, store in self.stores.items():
            for key in store.pop_due(instant):
                entry = store.entries[key]
                state = self._load(entry)
                assert state is not None
                try:
                    result = self.handler.due(key, state, now)
                except Exception:
                    # Keep the state and try again on a later tick; an operator sees the log and metric.
                    log.exception(
                        "%s: scheduled work failed for a debtor on partition %d", self.service, partition
                    )
                    self.runtime.metrics.deadletters.labels(self.service, "processing_error").inc()
                    continue
                self._store(partition, store, key, result, entry.seen, now)

    def _store(
        self, partition: int, store: PartitionStore, key: str, result: Result[St], seen: bytes, now: datetime
    ) -> None:
        publisher = self.runtime.publisher
        for out in result.outputs:
            publisher.queue_event(out.event, out.id, out.time or now, out.topic)
        for letter in result.dead_letters:
            self.runtime.dead_letter(_record(letter), letter.reason, letter.error, now)
        if result.counts and self.meter is not None:
            self.meter.record(result.counts)
        if not result.persist:
            return
        if result.state is None:
            store.put(key, None)
            self._dirty.pop((partition, key), None)
            publisher.queue(self._state_topic, key.encode(), None, (), partition)
            return
        due = result.next_due.timestamp() if result.next_due else None
        entry = _Entry(b"", due, seen, result.scheduled, live=result.state)
        store.put(key, entry)
        # A debtor changed twice in a batch (an overdue record, then the ladder step it made due) is
        # serialized and written once, at the end of the batch (profiled: the second write was ~10% of a
        # record in escalation). A tombstone queued meanwhile stays before it, as it happened.
        self._dirty[(partition, key)] = entry

    def _persist_dirty(self) -> None:
        """Serialize every state changed in this batch and queue its changelog record."""
        dirty, self._dirty = self._dirty, {}
        publisher = self.runtime.publisher
        for (partition, key), entry in dirty.items():
            assert entry.live is not None
            entry.value, entry.live = entry.live.model_dump_json().encode(), None
            headers = [("seen", entry.seen), ("scheduled", str(entry.scheduled).encode())]
            if entry.due is not None:
                headers.append(("due", repr(entry.due).encode()))
            publisher.queue(self._state_topic, key.encode(), entry.value, headers, partition)

    @property
    def _state_topic(self) -> str:
        return self.runtime.settings.topic(self.handler.state_topic)

    def _load(self, entry: _Entry | None) -> St | None:
        if entry is None:
            return None
        if entry.live is not None:  # changed earlier in this batch; states are immutable, no copy needed
            return entry.live  # type: ignore[return-value]
        return self.handler.state_model.model_validate_json(entry.value)

    def state(self, key: str) -> St | None:
        """The state held for ``key`` on any owned partition (for tests and the what-if replay)."""
        for store in self.stores.values():
            if key in store.entries:
                return self._load(store.entries[key])
        return None

    async def revisit(self, visit: Callable[[str, St, datetime], Result[St] | None], marker: bytes) -> int:
        """Apply ``visit`` to every state held whose serialized form contains ``marker``; publish and persist.

        For rare, operator-driven sweeps (a resume after a pause); the byte test avoids decoding every state.
        """
        runtime = self.runtime
        async with runtime.lock:
            now = runtime.clock.now()
            visited = 0
            for partition, store in self.stores.items():
                for key in [k for k, e in store.entries.items() if marker in e.value]:
                    entry = store.entries[key]
                    state = self._load(entry)
                    assert state is not None
                    result = visit(key, state, now)
                    if result is not None:
                        self._store(partition, store, key, result, entry.seen, now)
                        visited += 1
            self._persist_dirty()
            await runtime.publisher.flush()
            return visited

    # ---- restoring ---------------------------------------------------------------------------

    async def _restore(self, partitions: Iterable[int]) -> None:
        assert self._restorer is not None
        tps = [TopicPartition(self._state_topic, p) for p in partitions]
        if not tps:
            return
        started = time.perf_counter()
        stores = {tp.partition: PartitionStore() for tp in tps}
        count = 0
        async for records in self._restorer.replay(tps):
            store = stores[records[0].partition]
            for record in records:
                key = record.key.decode()
                if record.value is None:
                    store.put(key, None)
                    continue
                headers = dict(record.headers)
                due = float(headers["due"].decode()) if "due" in headers else None
                scheduled = int(headers.get("scheduled", b"0"))
                store.put(key, _Entry(record.value, due, headers.get("seen", b""), scheduled))
                count += 1
        self._restorer.release()
        self.stores.update(stores)
        log.info(
            "%s restored %d states on partitions %s in %.2fs",
            self.service,
            count,
            sorted(stores),
            time.perf_counter() - started,
        )
