"""The runtime's contract on the in-memory broker, and what only memory can show: that nothing is committed
before the broker acknowledged what the batch produced, and a rebalance mid-stream."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from schemas import events as ev
from schemas.topics import ACCOUNT, ESCALATIONS
from services.core.runtime.memory import MemoryBroker, MemoryConsumer
from services.core.settings import CommonSettings
from tests.runtime_contract import RuntimeContract, event, record


class TestOnMemory(RuntimeContract):
    @pytest.fixture
    def settings(self) -> CommonSettings:
        self.broker = MemoryBroker(partitions=4)
        return CommonSettings(topic_prefix="m.")

    def connector(self, settings: CommonSettings) -> MemoryBroker:
        return self.broker

    async def write(self, settings: CommonSettings, records: list) -> None:  # type: ignore[type-arg]
        for topic, key, value, headers in records:
            self.broker.append(settings.topic(topic), key, value, headers)

    async def test_offsets_are_committed_only_after_every_output_is_acknowledged(
        self, settings: CommonSettings
    ) -> None:
        await self.write(settings, [record(ACCOUNT, event(ev.AccountOverdue, "d-ack"), "a-1")])
        self.broker.hold_acks = True
        async with self.running(settings) as runtime:
            await self.until(lambda: self.broker.records(settings.topic(ESCALATIONS)) != [])
            await asyncio.sleep(0.1)  # the loop is now waiting for the acknowledgements
            assert self.committed(settings) == 0
            assert self.tally(runtime, "d-ack") == ["AccountOverdue"]  # applied, but not durable yet
            self.broker.hold_acks = False
            self.broker.release()
            await self.until(lambda: self.committed(settings) == 1)

    async def test_a_rebalance_drops_and_restores_partitions_from_the_changelog(
        self, settings: CommonSettings
    ) -> None:
        debtors = [f"d-rb{i}" for i in range(8)]
        await self.write(settings, [record(ACCOUNT, event(ev.AccountOverdue, d), f"rb-{d}") for d in debtors])
        async with self.running(settings) as runtime:
            await self.until(lambda: all(self.tally(runtime, d) for d in debtors))
            consumer = runtime._consumer
            assert isinstance(consumer, MemoryConsumer)
            async with runtime.lock:
                pass  # between batches
            await consumer.rebalance([0, 1])
            kept = {d for d in debtors if self.tally(runtime, d) is not None}
            assert 0 < len(kept) < len(debtors)  # the others' partitions were revoked
            await consumer.rebalance([0, 1, 2, 3])
            assert all(self.tally(runtime, d) == ["AccountOverdue"] for d in debtors)  # restored

    def committed(self, settings: CommonSettings) -> int:
        return sum(
            offset
            for (group, tp), offset in self.broker.committed.items()
            if group == settings.group("tally") and isinstance(tp, TopicPartition)
        )
