"""The foundation against the real broker: round trips, idempotence by ce_id, dead letters, redrive,
the publish command, and state surviving a restart of a stateful consumer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, topic_for
from services.core import codec, redrive
from services.core.clock import ManualClock
from services.core.metrics import PipelineMetrics
from services.core.runtime.handler import Result
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.settings import REPO_ROOT, CommonSettings
from tests.conftest import Principal
from tests.factories import T0, samples
from tests.support import consume, decoded, kafka_env, produce, publish


class Tally(BaseModel):
    model_config = ConfigDict(frozen=True)
    count: int = 0
    types: list[str] = []


class TallyHandler:
    """Counts the account events applied per debtor: the smallest possible stateful service."""

    service = "tally"
    input_topics = (ACCOUNT,)
    state_topic = "collections.escalation.state.v1"
    state_model = Tally

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.failing = failing  # debtors it fails on, as a consumer with a bug would

    def apply(
        self, key: str, state: Tally | None, envelope: codec.Envelope[BaseModel], now: datetime
    ) -> Result[Tally]:
        if key in self.failing:
            raise RuntimeError("a bug in the consumer")
        state = state or Tally()
        return Result(Tally(count=state.count + 1, types=[*state.types, type(envelope.event).__name__]))

    def due(self, key: str, state: Tally, now: datetime) -> Result[Tally]:
        return Result(state)


@asynccontextmanager
async def running(settings: CommonSettings, failing: frozenset[str] = frozenset()) -> AsyncIterator[Runtime]:
    processor = Runtime(
        KeyedStage(TallyHandler(failing)),
        settings,
        ManualClock(T0),
        PipelineMetrics(CollectorRegistry(), "tally"),
    )
    task = asyncio.create_task(processor.run())
    try:
        yield processor
    finally:
        processor.stop()
        await asyncio.wait_for(task, 30)


async def until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def tally(processor: Runtime, debtor: str) -> Tally | None:
    stage = processor.stage
    assert isinstance(stage, KeyedStage)
    found = stage.state(debtor)
    return Tally.model_validate(found.model_dump()) if found is not None else None


async def test_every_event_type_round_trips_with_key_and_headers(settings: CommonSettings) -> None:
    events = samples()
    await publish(settings, events, time=T0, ids=[f"ce-{i}" for i in range(len(events))])
    for index, event in enumerate(events):
        records = await consume(
            settings,
            topic_for(event),
            lambda rs, e=event: any(codec.decode(r.key, r.value, r.headers).event == e for r in rs),
        )
        match = next(r for r in records if codec.decode(r.key, r.value, r.headers).event == event)
        headers = dict(match.headers)
        assert headers["ce_id"] == f"ce-{index}".encode()
        assert headers["ce_type"] == codec.type_name(type(event)).encode()
        assert match.key == codec.key_of(event).encode()


async def test_extra_inbound_field_accepted_and_duplicate_ce_id_applied_once(
    settings: CommonSettings,
) -> None:
    overdue = samples(debtor="d-dup")[0]
    enc = codec.encode(overdue, source="/core-banking", time=T0, id="same-id")
    extended = orjson.dumps(orjson.loads(enc.value) | {"branch_code": "B17"})
    payment = samples(debtor="d-dup")[1]
    penc = codec.encode(payment, source="/core-banking", time=T0, id="pay-id")
    await produce(
        settings,
        [
            (ACCOUNT, enc.key, extended, enc.headers),
            (ACCOUNT, enc.key, enc.value, enc.headers),
            (ACCOUNT, penc.key, penc.value, penc.headers),
        ],
    )
    async with running(settings) as processor:
        await until(lambda: (t := tally(processor, "d-dup")) is not None and t.count >= 2)
        state = tally(processor, "d-dup")
        assert state is not None
        assert state.types == ["AccountOverdue", "PaymentPosted"]
        assert processor.metrics.duplicates.labels("tally")._value.get() == 1


async def test_bad_records_dead_letter_and_the_consumer_goes_on(
    settings: CommonSettings, tmp_path: Path
) -> None:
    good = samples(debtor="d-dl")[0]
    enc = codec.encode(good, source="/core-banking", time=T0, id="good")
    broken = orjson.loads(enc.value)
    del broken["account_id"]
    unknown = [(n, b"collections.LoanRestructured.v9" if n == "ce_type" else v) for n, v in enc.headers]
    bad_id = [(n, b"schema" if n == "ce_id" else v) for n, v in enc.headers]
    await produce(
        settings,
        [
            (
                ACCOUNT,
                enc.key,
                b"{this is not json",
                [(n, b"json" if n == "ce_id" else v) for n, v in enc.headers],
            ),
            (ACCOUNT, enc.key, orjson.dumps(broken), bad_id),
            (ACCOUNT, enc.key, enc.value, unknown),
            (ACCOUNT, enc.key, enc.value, enc.headers),
        ],
    )
    async with running(settings) as processor:
        await until(lambda: tally(processor, "d-dl") is not None)
        letters = decoded(await consume(settings, DEADLETTER, lambda rs: len(rs) >= 3))
        reasons = sorted(e.event.reason for e in letters)  # type: ignore[attr-defined]
        assert reasons == ["invalid_json", "schema_violation", "unknown_type"]
        for letter in (e.event for e in letters):
            assert isinstance(letter, ev.DeadLetter)
            assert letter.source_topic == settings.topic(ACCOUNT)
            assert letter.consumer == "tally"
            assert letter.key_b64 is not None and letter.value_b64 is not None
        assert processor.metrics.deadletters.labels("tally", "schema_violation")._value.get() == 1

        # Redrive: export the schema violation, correct it by hand, import it: it is applied.
        chosen = await redrive.read(settings, redrive.Selection(reason="schema_violation"))
        assert len(chosen.letters) == 1 and chosen.skipped == []
        exported = orjson.loads(redrive.export_lines(chosen.letters)[0])
        value = orjson.loads(exported["value"])
        value["account_id"] = "a-fixed"
        exported["value"] = orjson.dumps(value).decode()
        outcome = await redrive.import_lines(settings, [orjson.dumps(exported)])
        assert len(outcome.outgoing) == 1 and outcome.refused == []
        await until(lambda: (t := tally(processor, "d-dl")) is not None and t.count == 2)


async def test_replay_redrives_unchanged_bytes_and_refuses_what_is_still_invalid(
    settings: CommonSettings,
) -> None:
    enc = codec.encode(samples(debtor="d-rp")[0], source="/core-banking", time=T0, id="rp")
    bad = codec.encode(samples(debtor="d-rp-bad")[0], source="/core-banking", time=T0, id="rp-bad")
    headers = [(n, v) for n, v in bad.headers if n != "ce_source"]
    await produce(
        settings, [(ACCOUNT, enc.key, enc.value, enc.headers), (ACCOUNT, bad.key, bad.value, headers)]
    )
    async with running(settings, failing=frozenset({"d-rp"})):
        await consume(settings, DEADLETTER, lambda rs: len(rs) == 2)
    scan = await redrive.read(settings, redrive.Selection())
    assert sorted(found.letter.reason for found in scan.letters) == ["missing_header", "processing_error"]
    # The consumer fixed, replay: the valid record goes back byte for byte, the invalid one stays out.
    outcome = await redrive.replay(settings, scan.letters)
    assert [item.reason.split(":")[1].strip() for item in outcome.refused] == ["missing_header"]
    [sent] = outcome.outgoing
    assert sent.key == enc.key
    records = await consume(settings, ACCOUNT, lambda rs: len(rs) == 3)
    first, again = [r for r in records if r.key == enc.key]
    assert (
        (again.value, list(again.headers)) == (first.value, list(first.headers)) == (enc.value, enc.headers)
    )
    assert [r.key for r in records].count(bad.key) == 1


async def test_state_survives_a_restart(settings: CommonSettings) -> None:
    first, second = samples(debtor="d-rs")[0], samples(debtor="d-rs")[1]
    await publish(settings, [first], time=T0, ids=["one"])
    async with running(settings) as processor:
        await until(lambda: tally(processor, "d-rs") is not None)
    await publish(settings, [second, first], time=T0, ids=["two", "one"])  # "one" again: a redelivery
    async with running(settings) as processor:
        await until(lambda: (t := tally(processor, "d-rs")) is not None and t.count >= 2)
        await asyncio.sleep(0.5)  # a third application, if the duplicate were applied, would land by now
        state = tally(processor, "d-rs")
        assert state is not None and state.types == ["AccountOverdue", "PaymentPosted"]


def test_publish_command_rejects_bad_lines_and_publishes_good_ones(
    settings: CommonSettings, principal: Principal, tmp_path: Path
) -> None:
    overdue, payment = samples(debtor="d-pub")[:2]
    lines = [
        orjson.dumps({"type": "AccountOverdue", "data": orjson.loads(overdue.model_dump_json())}),
        orjson.dumps({"type": "PaymentPosted", "data": {"debtor_id": "d-pub"}}),
        b"",
        b"{oops",
        orjson.dumps(
            {
                "type": "collections.PaymentPosted.v1",
                "id": "p-77",
                "time": T0.isoformat(),
                "data": orjson.loads(payment.model_dump_json()),
            }
        ),
        orjson.dumps({"type": "LoanExploded", "data": {}}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = os.environ | kafka_env(principal("core-banking"))
    result = subprocess.run(
        [sys.executable, "-m", "services.publish", str(path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert [line.split(":")[0] for line in errors] == ["line 2", "line 4", "line 6"]
    assert "account_id" in errors[0]
    assert "2 published, 3 rejected" in result.stdout
    records = await_records(settings)
    events = [e.event for e in decoded(records)]
    assert events == [overdue, payment]
    assert dict(records[1].headers)["ce_id"] == b"p-77"


def await_records(settings: CommonSettings):  # type: ignore[no-untyped-def]
    return asyncio.run(consume(settings, ACCOUNT, lambda rs: len(rs) >= 2))
