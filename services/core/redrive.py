"""``python -m services.core.redrive``: inspect dead letters and put them back on their source topic.

- ``list`` prints the chosen dead letters (position, consumer, reason, error; never the payload);
- ``replay`` republishes them unchanged, for when the cause was in a consumer that is now fixed;
- ``export FILE`` writes them as JSON lines (payload as text) for a person to correct, and
  ``import FILE`` republishes the corrected lines to their source topics.

Choose with ``--source-topic``, ``--reason``, ``--consumer`` and ``--offsets FROM-TO`` (dead-letter
topic offsets, inclusive).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.events import DeadLetter
from schemas.topics import DEADLETTER
from services.core.cli import Command, main
from services.core.deadletter import original
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.reader import TopicReader
from services.core.settings import CommonSettings, load


@dataclass(frozen=True, slots=True)
class Selection:
    source_topic: str | None = None
    reason: str | None = None
    consumer: str | None = None
    first: int = 0
    last: int | None = None

    def matches(self, offset: int, letter: DeadLetter) -> bool:
        return (
            offset >= self.first
            and (self.last is None or offset <= self.last)
            and (self.source_topic is None or letter.source_topic == self.source_topic)
            and (self.reason is None or letter.reason == self.reason)
            and (self.consumer is None or letter.consumer == self.consumer)
        )


async def read(settings: CommonSettings, selection: Selection) -> list[tuple[int, DeadLetter]]:
    """Every dead letter currently on the topic that matches ``selection``, in offset order."""
    async with TopicReader.connect(settings, "collections-redrive", large=True) as reader:
        found: list[tuple[int, DeadLetter]] = []
        async for records in reader.replay(await reader.partitions(settings.topic(DEADLETTER))):
            for record in records:
                letter = DeadLetter.model_validate_json(record.value or b"")
                if selection.matches(record.offset, letter):
                    found.append((record.offset, letter))
        return sorted(found, key=lambda item: (item[1].failed_at, item[0]))


async def replay(settings: CommonSettings, letters: list[DeadLetter]) -> int:
    records = [(letter.source_topic, *original(letter)) for letter in letters]
    return await _produce(settings, records)


def export_lines(letters: list[tuple[int, DeadLetter]]) -> list[bytes]:
    lines = []
    for offset, letter in letters:
        key, value, headers = original(letter)
        lines.append(
            orjson.dumps(
                {
                    "deadletter_offset": offset,
                    "source_topic": letter.source_topic,
                    "reason": letter.reason,
                    "error": letter.error,
                    "key": key.decode(errors="replace") if key is not None else None,
                    "headers": {name: raw.decode(errors="replace") for name, raw in headers},
                    "value": value.decode(errors="replace") if value is not None else None,
                }
            )
        )
    return lines


async def import_lines(settings: CommonSettings, lines: list[bytes]) -> int:
    records = []
    for line in lines:
        if not line.strip():
            continue
        item = orjson.loads(line)
        headers = [(name, str(raw).encode()) for name, raw in item["headers"].items()]
        key = item["key"].encode() if item.get("key") is not None else None
        value = item["value"].encode() if item.get("value") is not None else None
        records.append((item["source_topic"], key, value, headers))
    return await _produce(settings, records)


async def _produce(
    settings: CommonSettings, records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]]
) -> int:
    producer = KafkaConnector(settings).producer("collections-redrive")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records)


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-topic")
    parser.add_argument("--reason")
    parser.add_argument("--consumer")
    parser.add_argument("--offsets", help="FROM-TO, dead-letter topic offsets, inclusive")


def _selection(args: argparse.Namespace) -> Selection:
    first, last = 0, None
    if args.offsets:
        low, _, high = args.offsets.partition("-")
        first, last = int(low), int(high) if high else None
    return Selection(args.source_topic, args.reason, args.consumer, first, last)


def _with_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    _selection_options(parser)


def run_list(args: argparse.Namespace) -> int:
    letters = asyncio.run(read(load(CommonSettings), _selection(args)))
    for offset, letter in letters:
        size = len(base64.b64decode(letter.value_b64)) if letter.value_b64 else 0
        print(
            f"{offset:>8} {letter.failed_at.isoformat()} {letter.consumer:12} {letter.reason:17} "
            f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset} {size}B "
            f"{letter.error[:120]}"
        )
    print(f"{len(letters)} dead letters")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    letters = asyncio.run(read(settings, _selection(args)))
    print(f"{asyncio.run(replay(settings, [letter for _, letter in letters]))} records republished")
    return 0


def run_export(args: argparse.Namespace) -> int:
    letters = asyncio.run(read(load(CommonSettings), _selection(args)))
    args.file.write_bytes(b"\n".join(export_lines(letters)) + b"\n")
    print(f"{len(letters)} dead letters written to {args.file}")
    return 0


def configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)


def run_import(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    count = asyncio.run(import_lines(settings, args.file.read_bytes().splitlines()))
    print(f"{count} records republished")
    return 0


COMMANDS = {
    "list": Command("print the chosen dead letters (never their payload)", _selection_options, run_list),
    "replay": Command("republish the chosen dead letters unchanged", _selection_options, run_replay),
    "export": Command(
        "write the chosen dead letters as JSON lines to correct by hand", _with_file, run_export
    ),
    "import": Command("republish corrected lines to their source topics", configure_import, run_import),
}

if __name__ == "__main__":
    sys.exit(main("python -m services.core.redrive", COMMANDS, description=__doc__))
