"""The part of the Kafka client API the runtime uses, as protocols: aiokafka's clients satisfy them, and so do
the in-memory ones of ``memory``, so that the same loop runs against a broker and against a list."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeAlias

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Headers: TypeAlias = Sequence[tuple[str, bytes]]


class RebalanceListener(Protocol):
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None: ...

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None: ...


class Producer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[Any]:
        """Hand a record to the client; the returned future resolves when the broker acknowledged it."""
        ...


class Consumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None: ...

    def assign(self, partitions: Iterable[TopicPartition]) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]: ...

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None: ...

    async def committed(self, partition: TopicPartition) -> int | None: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    async def position(self, partition: TopicPartition) -> int: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...
