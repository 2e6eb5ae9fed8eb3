"""Operator controls: pause everything, one channel, one template or one strategy; resume.

Every gatekeeper process reads the whole (compacted, single-partition) control topic, not just a share of
it: a pause must hold on every partition. The latest record per scope wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

from schemas import events as ev
from schemas.topics import CONTROL
from services.core import codec
from services.core import kafka as kafka_clients
from services.core.settings import CommonSettings

log = logging.getLogger(__name__)


class Controls:
    """The pauses in force, kept current by ``follow``."""

    def __init__(self) -> None:
        self.paused: dict[str, ev.OutreachControlChanged] = {}

    def apply(self, control: ev.OutreachControlChanged) -> None:
        if control.paused:
            self.paused[control.control_key] = control
        else:
            self.paused.pop(control.control_key, None)

    def holds(self, request: ev.ContactRequested) -> bool:
        if not self.paused:
            return False
        scopes = (
            "all:",
            f"channel:{request.channel.value}",
            f"template:{request.template}",
            f"strategy:{request.strategy}",
        )
        return any(scope in self.paused for scope in scopes)


class ControlFollower:
    """Reads the control topic from the beginning, then follows it; ``on_change`` runs after each change."""

    def __init__(
        self, settings: CommonSettings, controls: Controls, on_change: Callable[[], Awaitable[None]]
    ) -> None:
        self.settings = settings
        self.controls = controls
        self.on_change = on_change
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    async def catch_up(self) -> None:
        """Load every control already published; call before deciding anything."""
        self._consumer = kafka_clients.consumer(self.settings, None, "gatekeeper-controls")
        await self._consumer.start()
        tps = await kafka_clients.partitions(self._consumer, self.settings.topic(CONTROL))
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        ends = await self._consumer.end_offsets(tps)
        while [tp for tp in tps if await self._consumer.position(tp) < ends[tp]]:
            await self._poll()

    async def follow(self) -> None:
        assert self._consumer is not None
        try:
            while not self._stopping.is_set():
                if await self._poll():
                    await self.on_change()
        finally:
            await self._consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def _poll(self) -> bool:
        assert self._consumer is not None
        changed = False
        batch = await self._consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                try:
                    event = codec.decode(record.key, record.value, record.headers).event
                except codec.DecodeError as exc:
                    log.warning(
                        "ignoring unreadable control record at offset %d: %s", record.offset, exc.reason
                    )
                    continue
                if isinstance(event, ev.OutreachControlChanged):
                    log.info(
                        "control %s -> %s by %s",
                        event.control_key,
                        "paused" if event.paused else "resumed",
                        event.operator,
                    )
                    self.controls.apply(event)
                    changed = True
        return changed
