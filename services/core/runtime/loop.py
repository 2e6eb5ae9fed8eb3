"""The consume loop every consuming service runs: poll → decode → handle → flush → await acks → commit.

```
  poll a batch ─▶ decode each record ─┬─ not a valid event, or not declared for its topic ─▶ dead letter
                                      └─ Inbound ─▶ stage.handle(batch, now) ─▶ outputs queued or sent
  publisher.flush(): every output and dead letter acknowledged by the broker
  commit the batch's offsets (up to what the stage finished) ─▶ lag, clock acknowledgement
```

At-least-once: an offset is committed only after everything its record produced is acknowledged, so a crash
anywhere replays the batch, and deterministic ids (``schemas.ids``) make the replay harmless downstream.
The batch, the rebalance callbacks and recovery hold one lock, so partitions never change hands mid-batch.
Every record of a batch sees the same ``now``. The stage plugs in what differs: keyed state with its
changelog and schedule (``keyed.KeyedStage``), or the channel workers' send ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from pydantic import BaseModel

from schemas.events import DebtorProfileUpdated
from schemas.topics import DEADLETTER, declared
from services.core import codec
from services.core.clock import Clock, SharedClock, write_ack
from services.core.deadletter import dead_letter_record
from services.core.metrics import PipelineMetrics
from services.core.runtime import clients
from services.core.runtime.connector import Connector, KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader
from services.core.runtime.transport import Consumer, Record
from services.core.settings import CommonSettings
from services.core.signing import ApprovalSigner

log = logging.getLogger(__name__)

Decoder = Callable[[Record], codec.Envelope[BaseModel]]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A decoded record of the batch: where it came from and the event it carries."""

    topic: str  # logical name (without the deployment's prefix)
    partition: int
    offset: int
    envelope: codec.Envelope[BaseModel]
    record: Record


class Stage(Protocol):
    """What a service plugs into the loop. Every hook runs under the loop's lock."""

    service: str  # also the consumer group (prefixed) and the metrics' service label
    input_topics: tuple[str, ...]  # logical names
    stuck_after: float  # seconds without a poll after which the service reports itself unhealthy

    async def open(self, runtime: Runtime) -> None:
        """Before the first poll: stores, readers, checks."""
        ...

    async def close(self) -> None: ...

    async def assigned(self, partitions: set[int]) -> None:
        """Restore what the stage keeps for these partitions before any of their records is handled."""
        ...

    async def revoked(self, partitions: set[int]) -> None: ...

    async def handle(self, batch: list[Inbound], now: datetime) -> Mapping[TopicPartition, int]:
        """Process the batch (possibly empty: scheduled work runs too). Queue or send outputs through
        ``runtime.publisher``. Returns, per partition, the first offset it did not finish (none: all done)."""
        ...

    def next_due(self) -> datetime | None:
        """The earliest instant scheduled work is due, for a stepped clock's driver."""
        ...

    def scheduled(self) -> int:
        """Items waiting in the stage's schedule, for the backlog gauge."""
        ...


class Runtime:
    """Runs one ``Stage`` against Kafka (or an in-memory ``Connector``) until ``stop``."""

    def __init__(
        self,
        stage: Stage,
        settings: CommonSettings,
        clock: Clock,
        metrics: PipelineMetrics,
        *,
        connector: Connector | None = None,
        source: str | None = None,
        decoders: Mapping[str, Decoder] | None = None,
        signer: ApprovalSigner | None = None,
        max_records: int = 1000,
        tick_seconds: float = 0.02,
    ) -> None:
        self.stage = stage
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.connector = connector or KafkaConnector(settings)
        self.service = stage.service
        self.instance = settings.instance or stage.service
        self.max_records = max_records
        self.tick_seconds = tick_seconds
        self.decoders = dict(decoders or {})
        self._skew = timedelta(seconds=settings.max_clock_skew_seconds)
        self.publisher = Publisher(
            self.connector.producer(f"{self.instance}-producer"),
            settings,
            stage.service,
            source or f"/collections/{stage.service}",
            metrics,
            signer,
        )
        self.lock = asyncio.Lock()
        self._logical = {settings.topic(t): t for t in stage.input_topics}
        self._consumer: Consumer | None = None
        self._stopping = asyncio.Event()
        self._last_poll = 0.0
        self._lag_reported = 0.0
        self._last_ack: tuple[datetime, datetime | None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._consumer is not None and time.monotonic() - self._last_poll < self.stage.stuck_after

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()

    async def stopped(self) -> None:
        """Returns once ``stop`` was called (a wait that a stop cuts short)."""
        await self._stopping.wait()

    def reader(self, purpose: str) -> TopicReader:
        """A group-less reader for a stage's restores (``purpose`` names its client)."""
        return TopicReader(self.connector.consumer(None, f"{self.instance}-{purpose}"))

    async def start(self) -> None:
        """Start the clients and the stage, and join the group; ``step`` may be called from then on."""
        # Range assignment gives a worker the same partition numbers of every input topic (co-partitioning).
        self._consumer = self.connector.consumer(
            self.settings.group(self.service),
            self.instance,
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        try:
            await self.publisher.start()
            await self._consumer.start()
            await clients.require_topics(self._consumer, self.settings, self._logical)
            await self.stage.open(self)
        except BaseException:
            # A start that fails (no broker, no topics) closes the clients it opened.
            await self._consumer.stop()
            await self.publisher.stop()
            raise
        self._consumer.subscribe(topics=list(self._logical), listener=_Rebalance(self))

    async def close(self) -> None:
        # Drain: the batch in hand was finished and committed by its step; leave the group cleanly.
        try:
            if self._consumer is not None:
                await self._consumer.stop()
            await self.stage.close()
        finally:
            await self.publisher.stop()

    async def run(self) -> None:
        await self.start()
        try:
            while not self._stopping.is_set():
                try:
                    await self.step()
                except KafkaError as exc:
                    await self._recover(exc)
        finally:
            await self.close()

    # ---- one batch -------------------------------------------------------------------------

    async def step(self) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(
            timeout_ms=int(self.tick_seconds * 1000), max_records=self.max_records
        )
        self._last_poll = time.monotonic()
        self.metrics.last_poll.labels(self.service).set(time.time())
        async with self.lock:
            started = time.perf_counter()
            now = self.clock.now()
            owned = set(self._consumer.assignment())
            inbound: list[Inbound] = []
            ends: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                if tp not in owned:  # revoked while the batch was fetched
                    continue
                self.metrics.consumed.labels(self.service, tp.topic).inc(len(records))
                self.metrics.record_age.labels(self.service).observe(
                    max(0.0, time.time() - records[-1].timestamp / 1000)
                )
                topic = self._logical[tp.topic]
                for record in records:
                    envelope = self._decode(topic, record, now)
                    if envelope is not None:
                        inbound.append(Inbound(topic, tp.partition, record.offset, envelope, record))
                ends[tp] = records[-1].offset + 1
            held = await self.stage.handle(inbound, now)
            await self.publisher.flush()
            offsets = {tp: min(end, held.get(tp, end)) for tp, end in ends.items()}
            if offsets:
                await self._consumer.commit(offsets)
            if batch:
                self.metrics.batch_seconds.labels(self.service).observe(time.perf_counter() - started)
            if time.monotonic() - self._lag_reported > 1.0:  # a gauge: once a second is plenty
                await self._report_lag()
                self._lag_reported = time.monotonic()
            self.metrics.scheduled.labels(self.service).set(self.stage.scheduled())
            self._ack(now)

    def _decode(self, topic: str, record: Record, now: datetime) -> codec.Envelope[BaseModel] | None:
        decoder = self.decoders.get(topic)
        try:
            envelope = (
                decoder(record)
                if decoder
                else codec.decode(record.key, record.value, record.headers, not_after=now + self._skew)
            )
        except codec.DecodeError as exc:
            self.dead_letter(record, exc.reason, exc.message, now)
            return None
        if decoder is None and not declared(topic, envelope.event):
            # A valid event on a topic its writer has no business writing: never handed to a handler.
            self.dead_letter(record, "wrong_topic", f"{envelope.type} is not declared for {topic}", now)
            return None
        if isinstance(envelope.event, DebtorProfileUpdated) and envelope.event.dropped:
            self.metrics.dropped_values.labels(self.service).inc(envelope.event.dropped)
        return envelope

    def dead_letter(self, record: Record, reason: str, error: str, now: datetime) -> None:
        """Queue ``record`` for the dead-letter topic with ``reason``; the batch's flush publishes it."""
        key, value, headers = dead_letter_record(record, self.service, reason, error, now)
        self.publisher.queue(self.settings.topic(DEADLETTER), key, value, headers)
        self.metrics.deadletters.labels(self.service, reason).inc()

    async def _recover(self, error: KafkaError) -> None:
        """Go back to the last durable point after a broker failure: drop what this process applied but did
        not persist, restore the owned partitions, and resume from the committed offsets. Outputs that did
        reach the broker are produced again with the same ids (idempotent downstream)."""
        assert self._consumer is not None
        self.metrics.recoveries.labels(self.service).inc()
        delay = 0.5
        while not self._stopping.is_set():
            log.warning(
                "%s: broker error (%s); recovering from the last committed state",
                self.service,
                type(error).__name__,
            )
            await asyncio.sleep(delay)
            try:
                async with self.lock:
                    self.publisher.discard()
                    assigned = self._consumer.assignment()
                    partitions = {tp.partition for tp in assigned}
                    await self.stage.revoked(partitions)
                    await self.stage.assigned(partitions)
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

    # ---- time, lag ---------------------------------------------------------------------------

    def _ack(self, now: datetime) -> None:
        ack_dir = self.settings.clock_ack_dir
        if ack_dir is None or not isinstance(self.clock, SharedClock):
            return
        ack = (now, self.stage.next_due())
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
            self.metrics.lag.labels(self.service, topic).set(lag)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Revocation waits for the batch in hand to be committed; assignment restores the stage's stores first.

    Every input topic shares the partition number of its debtors' state, so the stage hears partition
    numbers, not topic partitions."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.runtime.lock:
            await self.runtime.stage.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.runtime.lock:
            await self.runtime.stage.assigned({tp.partition for tp in assigned})
