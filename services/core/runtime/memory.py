"""An in-memory broker with the client API the runtime uses: the same loop, stages and readers, no Kafka.

For the what-if replay (a strategy over an event file) and for unit tests of the runtime itself. Records are
partitioned by key as Kafka's default partitioner does (murmur2), offsets and committed offsets are kept per
partition and group, and acknowledgements can be held back to show what waits for them. One consumer per
group owns every partition of what it subscribes to; ``rebalance`` moves partitions as a broker would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord

from services.core.runtime.transport import Headers, RebalanceListener, Record


class MemoryBroker:
    """Topics as lists of partitions of records; a ``Connector`` for the runtime."""

    def __init__(self, partitions: int = 4) -> None:
        self.partitions = partitions
        self.logs: dict[str, list[list[Record]]] = {}
        self.sequence: list[Record] = []  # every record in the order it was written, across topics
        self.committed: dict[tuple[str, TopicPartition], int] = {}
        self.hold_acks = False
        self._held: list[asyncio.Future[Any]] = []

    def create(self, topic: str, partitions: int | None = None) -> None:
        self.logs.setdefault(topic, [[] for _ in range(partitions or self.partitions)])

    def log(self, topic: str) -> list[list[Record]]:
        self.create(topic)
        return self.logs[topic]

    def append(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers = (),
        partition: int | None = None,
    ) -> Record:
        parts = self.log(topic)
        if partition is None:
            every = list(range(len(parts)))
            partition = DefaultPartitioner()(key, every, every)
        offset = len(parts[partition])
        record: Record = ConsumerRecord(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp=int(time.time() * 1000),
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key) if key is not None else -1,
            serialized_value_size=len(value) if value is not None else -1,
            headers=tuple(headers),
        )
        parts[partition].append(record)
        self.sequence.append(record)
        return record

    def records(self, topic: str) -> list[Record]:
        """Every record of ``topic``, partition by partition."""
        return [record for part in self.log(topic) for record in part]

    def release(self) -> None:
        """Acknowledge every write held back since ``hold_acks`` was set."""
        held, self._held = self._held, []
        for future in held:
            if not future.done():
                future.set_result(None)

    # ---- the Connector protocol ----------------------------------------------------------------

    def producer(self, client_id: str) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(self, group: str | None, client_id: str, **extra: object) -> MemoryConsumer:
        return MemoryConsumer(self, group)

    def _acknowledgement(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.hold_acks:
            self._held.append(future)
        else:
            future.set_result(None)
        return future


class MemoryProducer:
    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[Any]:
        self.broker.append(topic, key, value, headers or (), partition)
        return self.broker._acknowledgement()


class MemoryConsumer:
    def __init__(self, broker: MemoryBroker, group: str | None) -> None:
        self.broker = broker
        self.group = group
        self._topics: list[str] = []
        self._listener: RebalanceListener | None = None
        self._assigned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._joined = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None:
        self._topics = list(topics)
        self._listener = listener
        self._joined = False

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._assigned = set(partitions)
        self._positions = {tp: self._positions.get(tp, 0) for tp in self._assigned}

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    async def rebalance(self, partitions: Iterable[int]) -> None:
        """Hand this group member exactly ``partitions`` of every subscribed topic, as a rebalance would."""
        if self._listener is not None:
            await self._listener.on_partitions_revoked(set(self._assigned))
        wanted = {TopicPartition(t, p) for t in self._topics for p in partitions}
        self.assign(wanted)
        for tp in wanted:
            self._positions[tp] = self.broker.committed.get((self.group or "", tp), 0)
        if self._listener is not None:
            await self._listener.on_partitions_assigned(set(wanted))

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        if self._topics and not self._joined:
            self._joined = True
            every = {p for topic in self._topics for p in range(len(self.broker.log(topic)))}
            await self.rebalance(sorted(every))
        budget = max_records if max_records is not None else 10_000
        batch: dict[TopicPartition, list[Record]] = {}
        for tp in sorted(partitions or self._assigned):
            if budget <= 0:
                break
            log = self.broker.log(tp.topic)[tp.partition]
            position = self._positions.get(tp, 0)
            records = log[position : position + budget]
            if records:
                batch[tp] = records
                self._positions[tp] = position + len(records)
                budget -= len(records)
        # Like a broker's long poll: nothing to return, so wait a little (a replay polls with timeout 0).
        await asyncio.sleep(0 if batch or not timeout_ms else min(timeout_ms, 50) / 1000)
        return batch

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        for tp, offset in (offsets or self._positions).items():
            self.broker.committed[(self.group or "", tp)] = offset

    async def committed(self, partition: TopicPartition) -> int | None:
        return self.broker.committed.get((self.group or "", partition))

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.broker.log(partition.topic)[partition.partition])

    async def position(self, partition: TopicPartition) -> int:
        return self._positions.get(partition, 0)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._positions[partition] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions or tuple(self._assigned):
            self._positions[tp] = 0

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.broker.log(tp.topic)[tp.partition]) for tp in partitions}

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(range(len(self.broker.log(topic))))
