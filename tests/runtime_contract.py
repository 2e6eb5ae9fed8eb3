"""One contract for the runtime, run against the in-memory broker (unit) and the real one (integration).

A ``Tally`` stage counts the account events applied per debtor and emits one decision-free output per event:
the smallest keyed service, enough to show ordering, the ce_id dedupe, dead letters (``wrong_topic``
included), one ``now`` per batch, and state restored after a rebalance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, ESCALATION_STATE, ESCALATIONS
from services.core import codec
from services.core.metrics import PipelineMetrics
from services.core.runtime.connector import Connector
from services.core.runtime.handler import Output, Result
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.runtime.reader import TopicReader
from services.core.runtime.transport import Record
from services.core.settings import CommonSettings
from tests.factories import T0, samples


class Tally(BaseModel):
    model_config = ConfigDict(frozen=True)
    types: list[str] = []


class TallyHandler:
    """Remembers the types applied per debtor; each event also raises an escalation stamped with ``now``."""

    service = "tally"
    input_topics = (ACCOUNT,)
    state_topic = ESCALATION_STATE
    state_model = Tally

    def apply(
        self, key: str, state: Tally | None, envelope: codec.Envelope[BaseModel], now: datetime
    ) -> Result[Tally]:
        types = [*(state.types if state else []), type(envelope.event).__name__]
        marker = ev.EscalationRaised(
            debtor_id=key,
            escalation_id=f"e-{envelope.id}",
            account_id="a-1",
            kind=ev.EscalationKind.LEGAL,
            reason="tally",
            days_past_due=1,
            currency="USD",
            total_outstanding=1,
            raised_at=now,
        )
        return Result(Tally(types=types), [Output(marker, f"e-{envelope.id}")])

    def due(self, key: str, state: Tally, now: datetime) -> Result[Tally]:
        return Result(state)


class TickingClock:
    """Every reading is a second later than the last: shows how often the loop reads the time."""

    def __init__(self) -> None:
        self.readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return T0 + timedelta(seconds=self.readings)


def event(kind: type[BaseModel], debtor: str) -> BaseModel:
    return next(e for e in samples(debtor=debtor) if isinstance(e, kind))


def record(topic: str, event: BaseModel, ce_id: str) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    enc = codec.encode(event, source="/tests", time=T0, id=ce_id)
    return topic, enc.key, enc.value, enc.headers


class RuntimeContract:
    """The runtime's guarantees; a subclass says where the broker is and how to write to it."""

    def connector(self, settings: CommonSettings) -> Connector | None:
        """None: the real broker of ``settings``."""
        raise NotImplementedError

    async def write(self, settings: CommonSettings, records: list[tuple[str, bytes, bytes, list]]) -> None:  # type: ignore[type-arg]
        raise NotImplementedError

    async def read(self, settings: CommonSettings, topic: str) -> list[Record]:
        async with TopicReader(self.connector_or_kafka(settings).consumer(None, "contract")) as reader:
            found: list[Record] = []
            async for records in reader.replay(await reader.partitions(settings.topic(topic))):
                found.extend(records)
            return found

    def connector_or_kafka(self, settings: CommonSettings) -> Connector:
        from services.core.runtime.connector import KafkaConnector

        return self.connector(settings) or KafkaConnector(settings)

    @asynccontextmanager
    async def running(self, settings: CommonSettings, clock: object | None = None) -> AsyncIterator[Runtime]:
        stage: KeyedStage[Tally] = KeyedStage(TallyHandler())
        runtime = Runtime(
            stage,
            settings,
            clock or TickingClock(),  # type: ignore[arg-type]
            PipelineMetrics(CollectorRegistry(), "tally"),
            connector=self.connector(settings),
        )
        task = asyncio.create_task(runtime.run())
        try:
            yield runtime
        finally:
            runtime.stop()
            await asyncio.wait_for(task, 30)

    async def until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
            await asyncio.sleep(0.02)

    @staticmethod
    def tally(runtime: Runtime, debtor: str) -> list[str] | None:
        stage = runtime.stage
        assert isinstance(stage, KeyedStage)
        state = stage.state(debtor)
        return list(state.types) if state is not None else None  # type: ignore[attr-defined]

    # ---- the contract ----------------------------------------------------------------------------

    async def test_each_ce_id_is_applied_once_in_order(self, settings: CommonSettings) -> None:
        overdue, payment, promise = (
            event(k, "d-ord") for k in (ev.AccountOverdue, ev.PaymentPosted, ev.PromiseToPayRecorded)
        )
        await self.write(
            settings,
            [
                record(ACCOUNT, overdue, "c-1"),
                record(ACCOUNT, payment, "c-2"),
                record(ACCOUNT, overdue, "c-1"),  # redelivered: the same ce_id
                record(ACCOUNT, promise, "c-3"),
            ],
        )
        async with self.running(settings) as runtime:
            await self.until(
                lambda: (
                    self.tally(runtime, "d-ord")
                    == ["AccountOverdue", "PaymentPosted", "PromiseToPayRecorded"]
                )
            )
            assert runtime.metrics.duplicates.labels("tally")._value.get() == 1

    async def test_a_record_not_declared_for_its_topic_is_dead_lettered_unhandled(
        self, settings: CommonSettings
    ) -> None:
        consent = event(ev.ConsentChanged, "d-wrong")  # a valid event, but consent has its own topic
        overdue = event(ev.AccountOverdue, "d-wrong")
        await self.write(
            settings,
            [
                record(ACCOUNT, consent, "w-1"),
                (ACCOUNT, b"d-wrong", b"{not json", record(ACCOUNT, overdue, "w-2")[3]),
                record(ACCOUNT, overdue, "w-3"),
            ],
        )
        async with self.running(settings) as runtime:
            await self.until(lambda: self.tally(runtime, "d-wrong") == ["AccountOverdue"])
            letters = [
                codec.decode(r.key, r.value, r.headers).event for r in await self.read(settings, DEADLETTER)
            ]
            assert sorted(letter.reason for letter in letters) == ["invalid_json", "wrong_topic"]  # type: ignore[attr-defined]
            wrong = next(letter for letter in letters if letter.reason == "wrong_topic")  # type: ignore[attr-defined]
            assert (wrong.source_topic, wrong.consumer) == (settings.topic(ACCOUNT), "tally")  # type: ignore[attr-defined]
            assert runtime.metrics.deadletters.labels("tally", "wrong_topic")._value.get() == 1

    async def test_every_record_of_a_batch_sees_one_now(self, settings: CommonSettings) -> None:
        events = [event(ev.AccountOverdue, f"d-now{i}") for i in range(20)]
        await self.write(settings, [record(ACCOUNT, e, f"n-{i}") for i, e in enumerate(events)])
        clock = TickingClock()
        async with self.running(settings, clock) as runtime:
            await self.until(lambda: all(self.tally(runtime, f"d-now{i}") for i in range(20)))
        outputs = [codec.decode(r.key, r.value, r.headers) for r in await self.read(settings, ESCALATIONS)]
        # One reading per batch at most (and none per record): 20 records, fewer distinct instants.
        stamps = {o.event.raised_at for o in outputs}  # type: ignore[attr-defined]
        assert len(outputs) == 20
        assert len(stamps) < 20
        assert all(o.time == o.event.raised_at for o in outputs)  # type: ignore[attr-defined]

    async def test_state_survives_a_restart_through_the_changelog(self, settings: CommonSettings) -> None:
        overdue, payment = event(ev.AccountOverdue, "d-rs"), event(ev.PaymentPosted, "d-rs")
        await self.write(settings, [record(ACCOUNT, overdue, "r-1")])
        async with self.running(settings) as runtime:
            await self.until(lambda: self.tally(runtime, "d-rs") == ["AccountOverdue"])
        await self.write(settings, [record(ACCOUNT, payment, "r-2"), record(ACCOUNT, overdue, "r-1")])
        async with self.running(settings) as runtime:
            await self.until(lambda: self.tally(runtime, "d-rs") == ["AccountOverdue", "PaymentPosted"])
