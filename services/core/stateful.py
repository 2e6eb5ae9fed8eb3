"""The keyed, stateful consume-process-produce loop behind escalation and the gatekeeper.

Each debtor's state lives on the partition its records arrive on, in memory, backed by a compacted
changelog topic written to the same partition number. A batch is processed, then every output and
state write is acknowledged by the broker, then the input offsets are committed: at-least-once, with
idempotence from deterministic output ids and from the ``ce_id``s each state remembers. On assignment a
partition's state is restored from its changelog; due items (deferred requests, next ladder steps) sit
in a per-partition schedule restored from the changelog's ``due`` header, so a tick costs the due items,
not all cases.

Why not Faust tables: see docs/adr/0001-stream-processing.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from schemas.topics import DEADLETTER, topic_for
from services.core import codec
from services.core import kafka as kafka_clients
from services.core.clock import Clock, SharedClock, write_ack
from services.core.deadletter import dead_letter_record
from services.core.metrics import PipelineMetrics
from services.core.settings import CommonSettings

log = logging.getLogger(__name__)

St = TypeVar("St", bound=BaseModel)
SEEN_IDS = 32


@dataclass(frozen=True, slots=True)
class Output:
    """An event to publish; ``id`` becomes its ``ce_id`` (deterministic, so a replay dedupes)."""

    event: BaseModel
    id: str
    topic: str | None = None


@dataclass(slots=True)
class Result(Generic[St]):
    """What a handler returns: the new state (``None`` deletes it), outputs, and when it is next due."""

    state: St | None
    outputs: list[Output] = field(default_factory=list)
    next_due: datetime | None = None
    scheduled: int = 0  # items this key has waiting (deferred requests, pending steps), for the backlog gauge


class Handler(Protocol[St]):
    """The pure part of a stateful service: no I/O, no clock reads."""

    service: str
    input_topics: tuple[str, ...]
    state_topic: str
    state_model: type[St]

    def apply(
        self, key: str, state: St | None, envelope: codec.Envelope[BaseModel], now: datetime
    ) -> Result[St]:
        """Apply one input event to the debtor's state."""
        ...

    def due(self, key: str, state: St, now: datetime) -> Result[St]:
        """Run the debtor's scheduled work that is due at ``now``."""
        ...


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


def _digest(ce_id: str) -> bytes:
    return hashlib.blake2b(ce_id.encode(), digest_size=8).digest()


def _remember(seen: bytes, digest: bytes) -> bytes:
    return (seen + digest)[-8 * SEEN_IDS :]


def _was_seen(seen: bytes, digest: bytes) -> bool:
    return any(seen[i : i + 8] == digest for i in range(0, len(seen), 8))


class StatefulProcessor(Generic[St]):
    """Runs a ``Handler`` against Kafka: consume, apply, publish, persist state, commit."""

    def __init__(
        self,
        handler: Handler[St],
        settings: CommonSettings,
        clock: Clock,
        metrics: PipelineMetrics,
        *,
        max_records: int = 1000,
        tick_seconds: float = 0.02,
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.max_records = max_records
        self.tick_seconds = tick_seconds
        self.stores: dict[int, PartitionStore] = {}
        self.source = f"/collections/{handler.service}"
        self.instance = settings.instance or handler.service
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._restorer: AIOKafkaConsumer | None = None
        self._last_poll = 0.0
        self._lag_reported = 0.0
        self._last_ack: tuple[datetime, datetime | None] | None = None
        self._pending: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]], int | None]] = []
        self._dirty: dict[tuple[int, str], _Entry] = {}
        self.on_batch: Callable[[], None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._consumer is not None and time.monotonic() - self._last_poll < 30

    def stop(self) -> None:
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def run(self) -> None:
        s = self.settings
        self._producer = kafka_clients.producer(s, f"{self.instance}-producer", max_request_size=4_194_304)
        self._restorer = kafka_clients.consumer(s, None, f"{self.instance}-restore")
        # Range assignment gives a worker the same partition numbers of every input topic (co-partitioning).
        self._consumer = kafka_clients.consumer(
            s,
            s.group(self.handler.service),
            self.instance,
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        await self._producer.start()
        await self._restorer.start()
        await self._consumer.start()
        self._consumer.subscribe(
            topics=[s.topic(t) for t in self.handler.input_topics], listener=_Rebalance(self)
        )
        try:
            while not self._stopping.is_set():
                try:
                    await self._step()
                except KafkaError as exc:
                    await self._recover(exc)
        finally:
            # Drain: finish and commit the batch in hand (done in _step), then leave the group cleanly.
            await self._consumer.stop()
            await self._restorer.stop()
            await self._producer.stop()

    async def _step(self) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(
            timeout_ms=int(self.tick_seconds * 1000), max_records=self.max_records
        )
        self._last_poll = time.monotonic()
        self.metrics.last_poll.labels(self.handler.service).set(time.time())
        async with self._lock:
            started = time.perf_counter()
            now = self.clock.now()
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                store = self.stores.get(tp.partition)
                if store is None:  # revoked while the batch was fetched
                    continue
                self.metrics.consumed.labels(self.handler.service, tp.topic).inc(len(records))
                self.metrics.record_age.labels(self.handler.service).observe(
                    max(0.0, time.time() - records[-1].timestamp / 1000)
                )
                for record in records:
                    self._apply(tp, store, record, now)
                offsets[tp] = records[-1].offset + 1
            self._run_due(now)
            await self._flush()
            if offsets:
                await self._consumer.commit(offsets)
            if batch:
                self.metrics.batch_seconds.labels(self.handler.service).observe(time.perf_counter() - started)
            if time.monotonic() - self._lag_reported > 1.0:  # a gauge: once a second is plenty
                await self._report_lag()
                self._lag_reported = time.monotonic()
            self.metrics.scheduled.labels(self.handler.service).set(
                sum(st.scheduled for st in self.stores.values())
            )
            self._ack(now)
        if self.on_batch is not None:
            self.on_batch()

    async def _recover(self, error: KafkaError) -> None:
        """Go back to the last durable point after a broker failure: drop what this process applied but did
        not persist, restore the owned partitions from their changelogs, and resume from the committed
        offsets. Outputs that did reach the broker will be produced again with the same ids (idempotent)."""
        assert self._consumer is not None
        self.metrics.recoveries.labels(self.handler.service).inc()
        delay = 0.5
        while not self._stopping.is_set():
            log.warning(
                "%s: broker error (%s); recovering from the last committed state",
                self.handler.service,
                type(error).__name__,
            )
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    self._pending.clear()
                    self._dirty.clear()
                    assigned = self._consumer.assignment()
                    self.stores.clear()
                    await self._restore(sorted({tp.partition for tp in assigned}))
                    for tp in assigned:
                        committed = await self._consumer.committed(tp)
                        if committed is None:
                            await self._consumer.seek_to_beginning(tp)
                        else:
                            self._consumer.seek(tp, committed)
                return
            except KafkaError as again:
                error = again
                delay = min(delay * 2, 10.0)

    # ---- processing ------------------------------------------------------------------------

    def _apply(
        self, tp: TopicPartition, store: PartitionStore, record: ConsumerRecord[bytes, bytes], now: datetime
    ) -> None:
        try:
            envelope = codec.decode(record.key, record.value, record.headers)
        except codec.DecodeError as exc:
            self._dead_letter(record, exc.reason, exc.message, now)
            return
        key = codec.key_of(envelope.event)
        entry = store.entries.get(key)
        digest = _digest(envelope.id)
        if entry is not None and _was_seen(entry.seen, digest):
            self.metrics.duplicates.labels(self.handler.service).inc()
            return
        try:
            state = self._load(entry)
            result = self.handler.apply(key, state, envelope, now)
        except Exception as exc:
            log.exception(
                "%s could not process %s at %s-%d@%d",
                self.handler.service,
                envelope.type,
                record.topic,
                record.partition,
                record.offset,
            )
            self._dead_letter(record, "processing_error", f"{type(exc).__name__}: {exc}", now)
            return
        seen = _remember(entry.seen if entry else b"", digest)
        self._store(tp.partition, store, key, result, seen)

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
                        "%s: scheduled work failed for a debtor on partition %d",
                        self.handler.service,
                        partition,
                    )
                    self.metrics.deadletters.labels(self.handler.service, "processing_error").inc()
                    continue
                self._store(partition, store, key, result, entry.seen)

    def _store(
        self, partition: int, store: PartitionStore, key: str, result: Result[St], seen: bytes
    ) -> None:
        assert self._producer is not None
        now = self.clock.now()
        for out in result.outputs:
            topic = self.settings.topic(out.topic or topic_for(out.event))
            enc = codec.encode(out.event, source=self.source, time=now, id=out.id)
            self._send(topic, enc.key, enc.value, enc.headers)
        if result.state is None:
            store.put(key, None)
            self._dirty.pop((partition, key), None)
            self._send(self.settings.topic(self.handler.state_topic), key.encode(), None, [], partition)
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
        state_topic = self.settings.topic(self.handler.state_topic)
        dirty, self._dirty = self._dirty, {}
        for (partition, key), entry in dirty.items():
            assert entry.live is not None
            entry.value, entry.live = entry.live.model_dump_json().encode(), None
            headers = [("seen", entry.seen), ("scheduled", str(entry.scheduled).encode())]
            if entry.due is not None:
                headers.append(("due", repr(entry.due).encode()))
            self._send(state_topic, key.encode(), entry.value, headers, partition)

    def _send(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> None:
        self._pending.append((topic, key, value, headers, partition))

    async def _flush(self) -> None:
        """Hand every pending record to the producer, then wait until the broker has acknowledged all."""
        self._persist_dirty()
        if not self._pending:
            return
        assert self._producer is not None
        pending, self._pending = self._pending, []
        # One at a time into the producer's buffer: send() waits while the buffer is full (backpressure),
        # and returns a delivery future; the batch is complete when every delivery is acknowledged.
        deliveries = [
            await self._producer.send(topic, value, key=key, headers=headers, partition=partition)
            for topic, key, value, headers, partition in pending
        ]
        await asyncio.gather(*deliveries)
        # Counted per topic once per batch: a labelled child lookup per record was ~4% of escalation's CPU.
        for topic, count in Counter(record[0] for record in pending).items():
            self.metrics.produced.labels(self.handler.service, topic).inc(count)

    def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, error: str, now: datetime
    ) -> None:
        key, value, headers = dead_letter_record(record, self.handler.service, reason, error, now)
        self._send(self.settings.topic(DEADLETTER), key, value, headers)
        self.metrics.deadletters.labels(self.handler.service, reason).inc()

    def _load(self, entry: _Entry | None) -> St | None:
        if entry is None:
            return None
        if entry.live is not None:  # changed earlier in this batch; states are immutable, no copy needed
            return entry.live  # type: ignore[return-value]
        return self.handler.state_model.model_validate_json(entry.value)

    async def revisit(self, visit: Callable[[str, St, datetime], Result[St] | None], marker: bytes) -> int:
        """Apply ``visit`` to every state held whose serialized form contains ``marker``; publish and persist.

        For rare, operator-driven sweeps (a resume after a pause); the byte test avoids decoding every state.
        """
        async with self._lock:
            now = self.clock.now()
            visited = 0
            for partition, store in self.stores.items():
                for key in [k for k, e in store.entries.items() if marker in e.value]:
                    entry = store.entries[key]
                    state = self._load(entry)
                    assert state is not None
                    result = visit(key, state, now)
                    if result is not None:
                        self._store(partition, store, key, result, entry.seen)
                        visited += 1
            await self._flush()
            return visited

    # ---- time, lag ---------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        dues = [d for d in (store.next_due() for store in self.stores.values()) if d is not None]
        return datetime.fromtimestamp(min(dues), tz=self.clock.now().tzinfo) if dues else None

    def _ack(self, now: datetime) -> None:
        ack_dir = self.settings.clock_ack_dir
        if ack_dir is None or not isinstance(self.clock, SharedClock):
            return
        ack = (now, self.next_due())
        if ack != self._last_ack:  # rewrite only when it says something new
            write_ack(ack_dir, self.instance, *ack)
            self._last_ack = ack

    async def _report_lag(self) -> None:
        assert self._consumer is not None
        totals: dict[str, int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            position = await self._consumer.position(tp)
            totals[tp.topic] = totals.get(tp.topic, 0) + max(0, high - position)
        for topic, lag in totals.items():
            self.metrics.lag.labels(self.handler.service, topic).set(lag)

    # ---- rebalancing -------------------------------------------------------------------------

    async def _restore(self, partitions: Iterable[int]) -> None:
        assert self._restorer is not None
        topic = self.settings.topic(self.handler.state_topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return
        started = time.perf_counter()
        self._restorer.assign(tps)
        await self._restorer.seek_to_beginning(*tps)
        ends = await self._restorer.end_offsets(tps)
        stores = {tp.partition: PartitionStore() for tp in tps}
        remaining = {tp for tp in tps if ends[tp] > 0}
        count = 0
        while remaining:
            batch = await self._restorer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                store = stores[tp.partition]
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
            for tp in list(remaining):
                if await self._restorer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        self._restorer.assign([])
        self.stores.update(stores)
        log.info(
            "%s restored %d states on partitions %s in %.2fs",
            self.handler.service,
            count,
            sorted(stores),
            time.perf_counter() - started,
        )


class _Rebalance(ConsumerRebalanceListener, Generic[St]):  # type: ignore[misc]
    """Revocation waits for the batch in hand to be committed; assignment restores state first."""

    def __init__(self, processor: StatefulProcessor[St]) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.processor._lock:
            # Every input topic shares the partition number of its debtors' state; drop what we lose.
            lost = {tp.partition for tp in revoked}
            for partition in lost:
                self.processor.stores.pop(partition, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.processor._lock:
            wanted = {tp.partition for tp in assigned} - set(self.processor.stores)
            await self.processor._restore(sorted(wanted))
