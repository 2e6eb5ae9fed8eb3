"""Kafka plumbing of the benchmark: load records fast (or at a steady pace), watch end offsets and consumer
lag, read a topic back with its broker timestamps, and the baseline consume-transform-produce loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

from devtools.bench_events import SOURCE, Record
from devtools.stepper import uncommitted
from services.core import codec
from services.core.runtime import clients as kafka_clients
from services.core.runtime.clients import partitions
from services.core.settings import CommonSettings

_BATCHES_IN_FLIGHT = 200  # batches handed over before waiting for them: bounds the loader's memory


def partition_of(key: bytes, count: int) -> int:
    """The partition every service's producer (aiokafka's default, murmur2 as in Java) puts ``key`` on."""
    return int(murmur2(key) & 0x7FFFFFFF) % count


class Kafka:
    """One broker seen from the benchmark: produce, end offsets, lag, read back."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings  # the admin principal: it loads and reads every stage's topics
        self._counts: dict[str, int] = {}

    async def start(self) -> None:
        # Clients bind to the running loop, so they are made here rather than in __init__.
        self._probe = kafka_clients.consumer(self.settings, None, "bench-probe")
        self._admin = kafka_clients.admin(self.settings, "bench-admin")
        self._producer = kafka_clients.producer(
            self.settings, "bench-loader", linger_ms=10, max_batch_size=262_144
        )
        await self._probe.start()
        await self._admin.start()
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()
        await self._admin.close()
        await self._probe.stop()

    # ---- writing -------------------------------------------------------------------------------

    async def produce(self, prefix: str, records: Iterable[Record]) -> int:
        """Produce as fast as the client goes, in batches built here (the per-record ``send`` costs about
        four times as much); returns the count once every record is acknowledged."""
        open_batches: dict[tuple[str, int], Any] = {}
        deliveries: list[asyncio.Future[object]] = []
        count = 0
        for record in records:
            topic = prefix + record.topic
            partition = partition_of(record.key, await self._partition_count(topic))
            batch = open_batches.get((topic, partition))
            if batch is None:
                batch = open_batches[(topic, partition)] = self._producer.create_batch()
            if (
                batch.append(timestamp=None, key=record.key, value=record.value, headers=record.headers)
                is None
            ):
                deliveries.append(await self._producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = self._producer.create_batch()
                batch.append(timestamp=None, key=record.key, value=record.value, headers=record.headers)
            count += 1
            if len(deliveries) >= _BATCHES_IN_FLIGHT:
                await asyncio.gather(*deliveries)
                deliveries.clear()
        for (topic, partition), batch in open_batches.items():
            if batch.record_count():
                deliveries.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*deliveries)
        return count

    async def _partition_count(self, topic: str) -> int:
        known = self._counts.get(topic)
        if known is None:
            known = self._counts[topic] = len(await self.partitions(topic))
        return known

    async def produce_paced(
        self, prefix: str, schedule: list[tuple[float, Record]], started: float | None = None
    ) -> float:
        """Produce each record at its offset in seconds from ``started`` (now by default), in 5 ms steps;
        returns the start. Records are stamped by the client when handed over, which is their send time."""
        loop = asyncio.get_running_loop()
        start = loop.time() if started is None else started
        deliveries = []
        index = 0
        while index < len(schedule):
            now = loop.time() - start
            while index < len(schedule) and schedule[index][0] <= now:
                record = schedule[index][1]
                deliveries.append(
                    await self._producer.send(
                        prefix + record.topic, record.value, key=record.key, headers=record.headers
                    )
                )
                index += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*deliveries)
        return start

    # ---- watching ------------------------------------------------------------------------------

    async def partitions(self, topic: str) -> list[TopicPartition]:
        return await partitions(self._probe, topic)

    async def total(self, topic: str) -> int:
        """Records ever written to ``topic`` (the sum of its end offsets)."""
        ends = await self._probe.end_offsets(await self.partitions(topic))
        return int(sum(ends.values()))

    async def wait_total(
        self, topic: str, expected: int, timeout: float, alive: Callable[[], None] = lambda: None
    ) -> float:
        """Wait until ``topic`` holds ``expected`` records; returns the wall time (time.time()) it did."""
        deadline = time.monotonic() + timeout
        while True:
            if await self.total(topic) >= expected:
                return time.time()
            alive()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{topic}: {await self.total(topic)} of {expected} records after {timeout}s"
                )
            await asyncio.sleep(0.1)

    async def lag(self, group: str, topics: list[str]) -> int:
        """Records in ``topics`` the consumer group has not committed yet (-1: no offsets known yet)."""
        try:
            committed = await self._admin.list_consumer_group_offsets(group)
        except KafkaError:
            return -1
        tps = [tp for topic in topics for tp in await self.partitions(topic)]
        return uncommitted(tps, await self._probe.end_offsets(tps), committed)

    async def read(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record of ``topic`` up to its current end, undecoded, with broker timestamps."""
        consumer = kafka_clients.consumer(
            self.settings,
            None,
            "bench-reader",
            fetch_max_bytes=33_554_432,
            max_partition_fetch_bytes=8_388_608,
        )
        await consumer.start()
        try:
            tps = await partitions(consumer, topic)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            records: list[ConsumerRecord[bytes, bytes]] = []
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=50_000)
                for part in batch.values():
                    records.extend(part)
                remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            return records
        finally:
            await consumer.stop()


@dataclass(frozen=True, slots=True)
class Drain:
    """How fast a backlog of ``events`` was turned into outputs: from ``started`` to the last output."""

    events: int
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return max(self.finished - self.started, 1e-6)

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


def last_timestamp(records: Iterable[ConsumerRecord[bytes, bytes]], since: float) -> float:
    """The broker timestamp (seconds) of the last record stamped at or after ``since``."""
    stamps: list[float] = [r.timestamp / 1000 for r in records if r.timestamp / 1000 >= since - 0.001]
    if not stamps:
        raise ValueError("no record was written after the start of the measurement")
    return max(stamps)


async def baseline(
    settings: CommonSettings, source: str, target: str, events: int, timeout: float = 600.0
) -> Drain:
    """The practical Python ceiling: a batched aiokafka loop over a backlog on ``source`` that decodes and
    validates each record, encodes it again with a derived id, produces it to ``target``, waits for the
    broker's acknowledgements and commits the batch, exactly in the order the stateful services do."""
    consumer = kafka_clients.consumer(settings, settings.group("bench-baseline"), "bench-baseline")
    producer = kafka_clients.producer(settings, "bench-baseline")
    await consumer.start()
    await producer.start()
    try:
        tps = await partitions(consumer, settings.topic(source))
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out = settings.topic(target)
        done = 0
        started = last_send = time.time()
        while done < events:
            if time.time() - started > timeout:
                raise TimeoutError(f"baseline: {done} of {events} records after {timeout}s")
            batch = await consumer.getmany(timeout_ms=50, max_records=1000)
            now = datetime.now(UTC)
            deliveries = []
            offsets = {}
            for tp, records in batch.items():
                for record in records:
                    envelope = codec.decode(record.key, record.value, record.headers)
                    enc = codec.encode(envelope.event, source=SOURCE, time=now, id=envelope.id + "/b")
                    deliveries.append(await producer.send(out, enc.value, key=enc.key, headers=enc.headers))
                offsets[tp] = records[-1].offset + 1
                done += len(records)
            if deliveries:
                # The moment the last output was handed to the client: what a stage's output timestamp says.
                last_send = time.time()
            await asyncio.gather(*deliveries)
            if offsets:
                await consumer.commit(offsets)
        return Drain(events, started, last_send)
    finally:
        await producer.stop()
        await consumer.stop()
