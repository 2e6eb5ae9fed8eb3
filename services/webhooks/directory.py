"""Who a phone number or email address belongs to: an inbound SMS carries only the number.

Follows ``collections.account.v1`` from the beginning with the runtime's reader, without a consumer group:
every instance keeps the whole directory (it is small: one profile per debtor), the newest
DebtorProfileUpdated per debtor by ``ce_time``, and the latest overdue account of each debtor for the
replies it asks for.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel

from schemas import events as ev
from schemas.values import canonical_address
from services.core import codec
from services.core.metrics import PipelineMetrics
from services.core.runtime.reader import TopicReader
from services.core.runtime.transport import Record

log = logging.getLogger(__name__)


class Directory:
    def __init__(self, reader: TopicReader, topic: str, pipeline: PipelineMetrics) -> None:
        self.reader = reader
        self.topic = topic
        self.pipeline = pipeline
        self.profiles: dict[str, tuple[datetime, ev.DebtorProfileUpdated]] = {}
        self.accounts: dict[str, str] = {}
        self._owners: defaultdict[str, set[str]] = defaultdict(set)
        self._stopping = asyncio.Event()

    def debtors(self, address: str) -> list[str]:
        return sorted(self._owners.get(canonical_address(address), ()))

    def profile(self, debtor_id: str) -> ev.DebtorProfileUpdated | None:
        entry = self.profiles.get(debtor_id)
        return entry[1] if entry else None

    async def start(self) -> None:
        """Read everything published so far; ``follow`` goes on from there."""
        await self.reader.start()
        async for records in self.reader.replay(await self.reader.partitions(self.topic)):
            self._read(records)

    async def stop(self) -> None:
        self._stopping.set()
        await self.reader.stop()

    async def follow(self) -> None:
        while not self._stopping.is_set():
            self._read(await self.reader.poll(500))

    def _read(self, records: list[Record]) -> None:
        if records:
            self.pipeline.consumed.labels("webhooks", self.topic).inc(len(records))
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
                self._owners[canonical_address(point.address)].discard(event.debtor_id)
        self.profiles[event.debtor_id] = (envelope.time, event)
        for point in event.contact_points:
            self._owners[canonical_address(point.address)].add(event.debtor_id)

    async def caught_up(self, timeout: float) -> bool:
        """Wait until everything published so far has been read (a profile sent just before an SMS)."""
        return await self.reader.caught_up(timeout)
