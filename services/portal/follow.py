"""Feeds the read model (``services.portal.book``) from the account and outcome topics with the runtime's
reader, without a consumer group: every instance reads both topics from the beginning, then follows them."""

from __future__ import annotations

import asyncio

from schemas.topics import ACCOUNT, OUTCOMES
from services.core import codec
from services.core.metrics import PipelineMetrics
from services.core.runtime.reader import TopicReader
from services.core.runtime.transport import Record
from services.core.settings import CommonSettings
from services.portal.book import Book


class Follower:
    def __init__(
        self, reader: TopicReader, settings: CommonSettings, book: Book, pipeline: PipelineMetrics
    ) -> None:
        self.reader = reader
        self.topics = [settings.topic(ACCOUNT), settings.topic(OUTCOMES)]
        self.book = book
        self.pipeline = pipeline
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Read everything published so far; ``follow`` goes on from there."""
        await self.reader.start()
        partitions = [tp for topic in self.topics for tp in await self.reader.partitions(topic)]
        async for records in self.reader.replay(partitions):
            self._read(records)

    async def follow(self) -> None:
        while not self._stopping.is_set():
            self._read(await self.reader.poll(500))

    async def stop(self) -> None:
        self._stopping.set()
        await self.reader.stop()

    async def caught_up(self, timeout: float) -> bool:
        return await self.reader.caught_up(timeout)

    def _read(self, records: list[Record]) -> None:
        for record in records:
            self.pipeline.consumed.labels("portal", record.topic).inc()
            try:
                envelope = codec.decode(record.key, record.value, record.headers)
            except codec.DecodeError:
                continue  # the services that own the topic dead-letter it; here it is simply not read
            self.book.apply(envelope)
