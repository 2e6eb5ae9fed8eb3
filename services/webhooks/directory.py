"""Who a phone number or email address belongs to: an inbound SMS carries only the number.

Follows ``collections.account.v1`` from the beginning with no consumer group (every instance keeps the
whole directory; it is small: one profile per debtor), keeping the newest DebtorProfileUpdated per debtor by
``ce_time``, and the latest overdue account of each debtor for the replies it asks for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import datetime

import phonenumbers
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from schemas import events as ev
from schemas.topics import ACCOUNT
from services.core import codec
from services.core import kafka as kafka_clients
from services.core.metrics import PipelineMetrics
from services.core.settings import CommonSettings

log = logging.getLogger(__name__)


def canonical(address: str) -> str:
    """E.164 for a phone number (spaces and dashes removed), lower case for an email address."""
    if "@" in address:
        return address.strip().lower()
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        return address.strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Directory:
    def __init__(self, settings: CommonSettings, pipeline: PipelineMetrics) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.profiles: dict[str, tuple[datetime, ev.DebtorProfileUpdated]] = {}
        self.accounts: dict[str, str] = {}
        self._owners: defaultdict[str, set[str]] = defaultdict(set)
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        self._stopping = asyncio.Event()

    def debtors(self, address: str) -> list[str]:
        return sorted(self._owners.get(canonical(address), ()))

    def profile(self, debtor_id: str) -> ev.DebtorProfileUpdated | None:
        entry = self.profiles.get(debtor_id)
        return entry[1] if entry else None

    async def start(self) -> None:
        self._consumer = kafka_clients.consumer(self.settings, None, "webhooks-directory")
        await self._consumer.start()
        self._tps = await kafka_clients.partitions(self._consumer, self.settings.topic(ACCOUNT))
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)

    async def stop(self) -> None:
        self._stopping.set()
        if self._consumer is not None:
            await self._consumer.stop()

    async def follow(self) -> None:
        assert self._consumer is not None
        while not self._stopping.is_set():
            await self.poll(500)

    async def poll(self, timeout_ms: int) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for tp, records in batch.items():
            self.pipeline.consumed.labels("webhooks", tp.topic).inc(len(records))
            for record in records:
                try:
                    envelope = codec.decode(record.key, record.value, record.headers)
                except codec.DecodeError:
                    continue  # the gatekeeper and escalation dead-letter it; here it is simply not a profile
                self.apply(envelope)

    def apply(self, envelope: codec.Envelope[BaseModel]) -> None:
        event = envelope.event
        if isinstance(event, ev.AccountOverdue):
            self.accounts[event.debtor_id] = event.account_id
        if not isinstance(event, ev.DebtorProfileUpdated):
            return
        current = self.profiles.get(event.debtor_id)
        if current is not None and envelope.time < current[0]:
            return
        if current is not None:
            for point in current[1].contact_points:
                self._owners[canonical(point.address)].discard(event.debtor_id)
        self.profiles[event.debtor_id] = (envelope.time, event)
        for point in event.contact_points:
            self._owners[canonical(point.address)].add(event.debtor_id)

    async def caught_up(self, timeout: float) -> bool:
        """Wait until everything published so far has been read (a profile sent just before an SMS)."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._tps)
        deadline = time.monotonic() + timeout
        while True:
            positions = {tp: await self._consumer.position(tp) for tp in self._tps}
            if all(positions[tp] >= ends[tp] for tp in self._tps):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
