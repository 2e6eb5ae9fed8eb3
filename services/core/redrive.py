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
from services.core import kafka as kafka_clients
from services.core.deadletter import original
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
    consumer = kafka_clients.consumer(
        settings, None, "collections-redrive", max_partition_fetch_bytes=8_388_608, fetch_max_bytes=16_777_216
    )
    await consumer.start()
    try:
        topic = settings.topic(DEADLETTER)
        tps = await kafka_clients.partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[tuple[int, DeadLetter]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for records in batch.values():
                for record in records:
                    letter = DeadLetter.model_validate_json(record.value or b"")
                    if selection.matches(record.offset, letter):
                        found.append((record.offset, letter))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(found, key=lambda item: (item[1].failed_at, item[0]))
    finally:
        await consumer.stop()


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
    producer = kafka_clients.producer(settings, "collections-redrive", max_request_size=4_194_304)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.core.redrive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["list", "replay", "export", "import"])
    parser.add_argument("file", nargs="?", type=Path, help="for export and import")
    parser.add_argument("--source-topic")
    parser.add_argument("--reason")
    parser.add_argument("--consumer")
    parser.add_argument("--offsets", help="FROM-TO, dead-letter topic offsets, inclusive")
    args = parser.parse_args(argv)
    settings = load(CommonSettings)
    if args.command == "import":
        if args.file is None:
            parser.error("import needs a FILE")
        count = asyncio.run(import_lines(settings, args.file.read_bytes().splitlines()))
        print(f"{count} records republished")
        return 0
    first, last = 0, None
    if args.offsets:
        low, _, high = args.offsets.partition("-")
        first, last = int(low), int(high) if high else None
    selection = Selection(args.source_topic, args.reason, args.consumer, first, last)
    letters = asyncio.run(read(settings, selection))
    if args.command == "list":
        for offset, letter in letters:
            size = len(base64.b64decode(letter.value_b64)) if letter.value_b64 else 0
            print(
                f"{offset:>8} {letter.failed_at.isoformat()} {letter.consumer:12} {letter.reason:17} "
                f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset} {size}B "
                f"{letter.error[:120]}"
            )
        print(f"{len(letters)} dead letters")
    elif args.command == "replay":
        print(f"{asyncio.run(replay(settings, [letter for _, letter in letters]))} records republished")
    else:
        if args.file is None:
            parser.error("export needs a FILE")
        args.file.write_bytes(b"\n".join(export_lines(letters)) + b"\n")
        print(f"{len(letters)} dead letters written to {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
