"""The redrive command against the secure broker, run as the operator principal: what it refuses to put back
(a forged dead letter naming a dispatch topic, an invalid corrected line), what it skips without printing
(records of the dead-letter topic that are not dead letters), how ``--offsets`` and ``--dry-run`` choose and
send, and the broker's ACLs that hold even if the command were bypassed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, DISPATCH
from schemas.vocab import Channel
from services.core import codec, redrive
from services.core.cli import main
from services.core.runtime import clients
from services.core.settings import CommonSettings
from tests.conftest import Principal
from tests.factories import T0, samples
from tests.support import consume, dead_letter, kafka_env, signed

PROG = "python -m services.core.redrive"
PLANTED = b"PLANTED-4f1c9e-do-not-print"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


Redrive = Callable[..., Ran]


@pytest.fixture
def as_operator(
    principal: Principal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Redrive:
    """Run ``collections redrive ARGS`` in this process as the operator principal, as an operator would."""
    for name, value in kafka_env(principal("operator")).items():
        monkeypatch.setenv(name, value)

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(PROG, redrive.COMMANDS, list(argv))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def overdue(debtor: str, **changes: object) -> ev.AccountOverdue:
    event = samples(debtor=debtor)[0]
    assert isinstance(event, ev.AccountOverdue)
    return event.model_copy(update=changes)


def letter_of(
    settings: CommonSettings, topic: str, event: ev.BaseModel, *, offset: int = 0, approve: bool = False
) -> ev.DeadLetter:
    """A dead letter of ``event`` as if a consumer of the logical ``topic`` had failed on it."""
    enc = codec.encode(event, source="/tests", time=T0, id=f"{type(event).__name__}-{offset}")
    _, key, value, headers = (
        signed(settings, topic, enc) if approve else (topic, enc.key, enc.value, enc.headers)
    )
    return dead_letter(settings.topic(topic), key, value, headers, offset=offset)


async def plant(
    settings: CommonSettings,
    records: list[tuple[int | None, bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """Write (partition, key, value, headers) records on the dead-letter topic, in order, as ``settings``."""
    producer = clients.producer(settings, "tests-plant")
    await producer.start()
    try:
        for partition, key, value, headers in records:
            sent = await producer.send(
                settings.topic(DEADLETTER), value, key=key, headers=headers, partition=partition
            )
            await sent
    finally:
        await producer.stop()


def on_deadletter(letter: ev.DeadLetter, partition: int | None = 0) -> tuple[int | None, bytes, bytes, list]:
    enc = codec.encode(letter, source="/collections/tests", time=T0)
    return partition, enc.key, enc.value, enc.headers


async def written(settings: CommonSettings, topic: str) -> int:
    """How many records the logical ``topic`` holds (every write before this call has been acknowledged)."""
    consumer = clients.consumer(settings, None, "tests-count")
    await consumer.start()
    try:
        tps = await clients.partitions(consumer, settings.topic(topic))
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def deadletter_partitions(settings: CommonSettings) -> list[TopicPartition]:
    consumer = clients.consumer(settings, None, "tests-partitions")
    await consumer.start()
    try:
        return await clients.partitions(consumer, settings.topic(DEADLETTER))
    finally:
        await consumer.stop()


def test_a_forged_dead_letter_naming_a_dispatch_topic_is_refused_and_nothing_reaches_it(
    settings: CommonSettings, principal: Principal, as_operator: Redrive
) -> None:
    sms = DISPATCH[Channel.SMS]
    approval = next(e for e in samples(debtor="d-forged") if isinstance(e, ev.ContactApproved))
    forged = letter_of(settings, sms, approval, approve=True)  # even signed as the gatekeeper signs
    honest = letter_of(settings, ACCOUNT, overdue("d-honest"))
    # Every consumer may write the dead-letter topic: a compromised SMS worker is enough to forge one.
    asyncio.run(plant(principal("channels-sms"), [on_deadletter(forged), on_deadletter(honest)]))

    ran = as_operator("replay", "--reason", "processing_error")

    assert ran.code == 1
    assert ran.err.splitlines() == [
        f"0:0 refused: source topic {settings.topic(sms)} is not redrivable; an approval is never redriven: "
        "redrive its contact request, and the gatekeeper decides again"
    ]
    assert ran.out.splitlines() == [
        f"0:1 sent collections.AccountOverdue.v1 to {settings.topic(ACCOUNT)}",
        "1 records republished, 1 refused",
    ]
    assert asyncio.run(written(settings, sms)) == 0
    [record] = asyncio.run(consume(settings, ACCOUNT, lambda rs: len(rs) == 1))
    assert record.key == b"d-honest"


async def test_the_operator_cannot_write_a_dispatch_topic_even_without_the_command(
    settings: CommonSettings, principal: Principal
) -> None:
    producer = clients.producer(principal("operator"), "tests-operator")
    await producer.start()
    try:
        await asyncio.wait_for(await producer.send(settings.topic(ACCOUNT), b"probe", key=b"d1"), 20)
        for topic in DISPATCH.values():
            with pytest.raises(TopicAuthorizationFailedError):
                await asyncio.wait_for(await producer.send(settings.topic(topic), b"forged", key=b"d1"), 20)
    finally:
        await producer.stop()
    for topic in DISPATCH.values():
        assert await written(settings, topic) == 0


def test_records_on_the_dead_letter_topic_that_are_not_dead_letters_are_skipped_and_never_printed(
    settings: CommonSettings, as_operator: Redrive, tmp_path: Path
) -> None:
    wrong_type = codec.encode(overdue("d-planted", product=PLANTED.decode()), source="/x", time=T0)
    posing = codec.encode(dead_letter(settings.topic(ACCOUNT), b"k", b"v", []), source="/x", time=T0)
    good = letter_of(settings, ACCOUNT, overdue("d-good"))
    asyncio.run(
        plant(
            settings,
            [
                (0, PLANTED, PLANTED, [("note", PLANTED)]),  # no CloudEvents at all
                (0, wrong_type.key, wrong_type.value, wrong_type.headers),  # an event, not a DeadLetter
                (0, posing.key, b'{"source_topic": "' + PLANTED + b'"', posing.headers),  # says DeadLetter
                on_deadletter(good),
            ],
        )
    )
    skipped = [
        "0:0 skipped: not a DeadLetter (missing_header)",
        "0:1 skipped: not a DeadLetter (a collections.AccountOverdue.v1)",
        "0:2 skipped: not a DeadLetter (invalid_json)",
    ]
    export = tmp_path / "letters.jsonl"
    runs = {
        "list": as_operator("list"),
        "export": as_operator("export", str(export)),
        "replay": as_operator("replay"),
    }
    for name, ran in runs.items():
        assert ran.code == 1, name
        assert ran.err.splitlines() == skipped, name
        assert PLANTED.decode() not in ran.out + ran.err, name
    assert runs["list"].out.splitlines()[0].split()[0] == "0:3"
    assert runs["list"].out.splitlines()[-1] == "1 dead letters, 3 skipped"
    assert PLANTED not in export.read_bytes()
    assert [orjson.loads(line)["deadletter_offset"] for line in export.read_bytes().splitlines()] == [3]
    assert runs["replay"].out.splitlines()[-1] == "1 records republished, 3 skipped"
    [record] = asyncio.run(consume(settings, ACCOUNT, lambda rs: len(rs) == 1))
    assert record.key == b"d-good"


def test_offsets_choose_positions_of_one_partition_of_the_three(
    settings: CommonSettings, as_operator: Redrive
) -> None:
    per_partition = 22
    planted = [
        on_deadletter(letter_of(settings, ACCOUNT, overdue(f"d-{p}-{i}"), offset=100 * p + i), partition=p)
        for p in range(3)
        for i in range(per_partition)
    ]
    asyncio.run(plant(settings, planted))
    assert [tp.partition for tp in asyncio.run(deadletter_partitions(settings))] == [0, 1, 2]

    ran = as_operator("list", "--offsets", "1:10-20")

    assert ran.code == 0, ran.err
    rows = ran.out.splitlines()
    assert rows[-1] == "11 dead letters"
    assert [row.split()[0] for row in rows[:-1]] == [f"1:{offset}" for offset in range(10, 21)]
    assert all(f"@{100 + offset} " in row for offset, row in zip(range(10, 21), rows[:-1], strict=True))
    several = asyncio.run(
        redrive.read(settings, redrive.Selection(spans=redrive.parse_offsets("2:0,1:10-12")))
    )
    assert [str(found.position) for found in several.letters] == ["1:10", "1:11", "1:12", "2:0"]


def test_a_dry_run_shows_what_would_be_sent_and_sends_nothing(
    settings: CommonSettings, as_operator: Redrive, tmp_path: Path
) -> None:
    asyncio.run(
        plant(settings, [on_deadletter(letter_of(settings, ACCOUNT, overdue("d-dry", product="gold")))])
    )
    export = tmp_path / "letters.jsonl"

    replayed = as_operator("replay", "--dry-run")
    exported = as_operator("export", str(export))
    imported = as_operator("import", str(export), "--dry-run")

    assert (replayed.code, exported.code, imported.code) == (0, 0, 0)
    assert replayed.out.splitlines() == [
        f"0:0 would send collections.AccountOverdue.v1 to {settings.topic(ACCOUNT)}",
        "1 records would be republished (dry run: nothing sent)",
    ]
    assert (
        imported.out.splitlines()[0]
        == f"line 1 would send collections.AccountOverdue.v1 to {settings.topic(ACCOUNT)}"
    )
    for ran in (replayed, imported):
        assert "d-dry" not in ran.out and "gold" not in ran.out
    assert asyncio.run(written(settings, ACCOUNT)) == 0


def test_an_invalid_corrected_line_is_refused_and_the_valid_ones_are_republished(
    settings: CommonSettings, as_operator: Redrive, tmp_path: Path
) -> None:
    broken = [orjson.loads(overdue(f"d-imp-{i}").model_dump_json()) for i in range(3)]
    for value in broken:
        del value["account_id"]
    letters = []
    for i, value in enumerate(broken):
        enc = codec.encode(overdue(f"d-imp-{i}"), source="/core-banking", time=T0, id=f"imp-{i}")
        letters.append(
            on_deadletter(
                dead_letter(settings.topic(ACCOUNT), enc.key, orjson.dumps(value), enc.headers, offset=i)
            )
        )
    asyncio.run(plant(settings, letters))
    export = tmp_path / "letters.jsonl"
    assert as_operator("export", str(export), "--reason", "processing_error").code == 0
    lines = [orjson.loads(line) for line in export.read_bytes().splitlines()]
    corrected = []
    for line in lines:
        value = orjson.loads(line["value"])
        value["account_id"] = "a-fixed"
        corrected.append(line | {"value": orjson.dumps(value).decode()})
    corrected[1] = lines[1]  # left as it was: still no account_id
    corrected[2] = corrected[2] | {"source_topic": settings.topic(DISPATCH[Channel.SMS])}
    export.write_bytes(b"\n".join(orjson.dumps(line) for line in corrected) + b"\n")

    ran = as_operator("import", str(export))

    assert ran.code == 1
    assert ran.err.splitlines() == [
        "line 2 refused: not a valid record: schema_violation: account_id: Field required",
        f"line 3 refused: source topic {settings.topic(DISPATCH[Channel.SMS])} is not redrivable; "
        "an approval is never redriven: redrive its contact request, and the gatekeeper decides again",
    ]
    assert ran.out.splitlines()[-1] == "1 records republished, 2 refused"
    [record] = asyncio.run(consume(settings, ACCOUNT, lambda rs: len(rs) == 1))
    assert record.key == b"d-imp-0" and orjson.loads(record.value)["account_id"] == "a-fixed"
    assert asyncio.run(written(settings, DISPATCH[Channel.SMS])) == 0
