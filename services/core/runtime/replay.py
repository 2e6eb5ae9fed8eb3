"""The what-if replay: a keyed handler on the runtime over an in-memory log, on a manual clock.

Events are fed in time order; before each, the scheduled work due by its instant runs at its due instant, as
the service's next tick would. It is the service's own loop and stage (the same decoding, topic checks,
``ce_id`` dedupe per debtor, changelog and schedule), so what it produces is what the service would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any, Generic

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from schemas.topics import DEADLETTER, topic_for
from services.core import codec
from services.core.clock import ManualClock
from services.core.metrics import PipelineMetrics
from services.core.runtime.handler import Handler, Meter, Output, St
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.runtime.memory import MemoryBroker
from services.core.settings import CommonSettings

_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


class HandlerLeftWorkDue(RuntimeError):
    """After running a key's due work at ``now``, the handler scheduled it again at or before ``now``: the
    service would run it again at once, forever. A handler bug, never a strategy choice."""


# Stands in for the services that answer what the handler publishes: given one output and the instant it was
# published at, the events that come back (the gatekeeper's answer to an escalation request, for one).
Responder = Callable[[Output, datetime], Iterable[BaseModel]]


class Replay(Generic[St]):
    """Feeds timed envelopes to a handler through the runtime and runs its schedule in between. With
    ``respond``, every output gets its answer fed back at once, before any later work."""

    def __init__(
        self, handler: Handler[St], meter: Meter | None = None, respond: Responder | None = None
    ) -> None:
        self.broker = MemoryBroker(partitions=1)
        self.clock = ManualClock(_EPOCH)
        self.stage: KeyedStage[St] = KeyedStage(handler, meter)
        self.runtime = Runtime(
            self.stage,
            CommonSettings(),
            self.clock,
            PipelineMetrics(CollectorRegistry(), handler.service),
            connector=self.broker,
            tick_seconds=0,
        )
        self._inputs = set(handler.input_topics)
        self._respond = respond
        self._answered = 0  # records of the log already shown to the responder
        self._internal = {*handler.input_topics, handler.state_topic}
        # Its own event loop on its own thread: a replay is called the same way from a command, a plain
        # function or a coroutine (whose loop must not be re-entered).
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay", daemon=True)
        self._thread.start()
        self._run(self.runtime.start())

    def close(self) -> None:
        self._run(self.runtime.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def feed(self, envelope: codec.Envelope[BaseModel], at: datetime) -> None:
        """Process ``envelope`` at ``at`` (after the work due before then)."""
        self.run_until(at)
        topic = topic_for(envelope.event)
        if topic not in self._inputs:
            raise ValueError(f"{envelope.type} travels on {topic}, which {self.stage.service} does not read")
        enc = codec.encode(envelope.event, source=envelope.source, time=envelope.time, id=envelope.id)
        self.broker.append(topic, enc.key, enc.value, enc.headers)
        self.clock.set(max(at, self.clock.now()))
        self._step()

    def run_until(self, until: datetime) -> None:
        """Run the scheduled work due at or before ``until``, each at its due instant."""
        while (due := self.stage.next_due()) is not None and due <= until:
            now = max(due, self.clock.now())
            self.clock.set(now)
            self._step()
            after = self.stage.next_due()
            if after is not None and after <= now:
                raise HandlerLeftWorkDue(f"work due at {after} still due after running at {now}")

    def _step(self) -> None:
        self._run(self.runtime.step())
        while self._respond is not None and self._answered < len(self.broker.sequence):
            record = self.broker.sequence[self._answered]
            self._answered += 1
            if record.topic in self._internal or record.topic == DEADLETTER:
                continue
            envelope = codec.decode(record.key, record.value, record.headers)
            output = Output(envelope.event, envelope.id, record.topic)
            for answer in self._respond(output, envelope.time):
                enc = codec.encode(answer, source="/replay", time=self.clock.now())
                self.broker.append(topic_for(answer), enc.key, enc.value, enc.headers)
                self._run(self.runtime.step())

    @property
    def produced(self) -> list[tuple[datetime, Output]]:
        """What the handler published, in order, with the instant it was published at."""
        found = []
        for record in self.broker.sequence:
            if record.topic in self._internal or record.topic == DEADLETTER:
                continue
            envelope = codec.decode(record.key, record.value, record.headers)
            found.append((envelope.time, Output(envelope.event, envelope.id, record.topic)))
        return found

    def state(self, key: str) -> St | None:
        return self.stage.state(key)

    def dead_letters(self) -> int:
        return len(self.broker.records(DEADLETTER))
