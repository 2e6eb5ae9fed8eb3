"""``python -m services.publish FILE``: validate each line against the contract and publish the valid ones.

A line is ``{"type": "AccountOverdue", "data": {...}}`` with optional ``id`` (the ce_id; by default a
hash of the line's content, so publishing the same file twice is idempotent downstream), ``time`` (the
ce_time; default now) and ``source`` (default ``/core-banking``). Invalid lines are reported with their
line number on stderr and are not published; the exit code is 1 if any line was invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

import orjson
from pydantic import BaseModel, ValidationError

from schemas.topics import topic_for
from services.core import codec
from services.core import kafka as kafka_clients
from services.core.clock import Clock, clock_from_spec
from services.core.settings import CommonSettings, ConfigError, format_errors, load


@dataclass(frozen=True, slots=True)
class Prepared:
    line: int
    topic: str
    encoded: codec.Encoded


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    error: str


def prepare(lines: Iterable[str], clock: Clock) -> tuple[list[Prepared], list[Rejected]]:
    """Validate every non-blank line; nothing here touches the broker."""
    good: list[Prepared] = []
    bad: list[Rejected] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            good.append(_prepare_line(number, line, clock))
        except (ValueError, ValidationError) as exc:
            message = format_errors(exc) if isinstance(exc, ValidationError) else str(exc)
            bad.append(Rejected(number, message))
    return good, bad


def _prepare_line(number: int, line: str, clock: Clock) -> Prepared:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("type"), str)
        or not isinstance(raw.get("data"), dict)
    ):
        raise ValueError('expected an object with "type" (an event name) and "data" (the event)')
    model: type[BaseModel] | None = codec.MODELS.get(codec.type_name_of(raw["type"]))
    if model is None:
        raise ValueError(f"unknown event type {raw['type'][:100]!r}")
    event = model.model_validate_json(orjson.dumps(raw["data"]))
    when = datetime.fromisoformat(raw["time"]) if isinstance(raw.get("time"), str) else clock.now()
    if when.tzinfo is None:
        raise ValueError("time has no UTC offset")
    ce_id = raw.get("id") or codec.deterministic_id(
        "publish", raw["type"], orjson.dumps(raw["data"]).decode()
    )
    encoded = codec.encode(event, source=str(raw.get("source") or "/core-banking"), time=when, id=str(ce_id))
    return Prepared(number, topic_for(event), encoded)


async def publish(prepared: list[Prepared], settings: CommonSettings) -> None:
    producer = kafka_clients.producer(settings, "collections-publish")
    await producer.start()
    try:
        futures = [
            await producer.send(
                settings.topic(p.topic), p.encoded.value, key=p.encoded.key, headers=p.encoded.headers
            )
            for p in prepared
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.publish",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="JSON lines file, or - for standard input")
    parser.add_argument("--dry-run", action="store_true", help="validate only")
    args = parser.parse_args(argv)
    try:
        settings = load(CommonSettings)
        clock = clock_from_spec(settings.clock)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.file == "-":
        good, bad = prepare(stdin, clock)
    else:
        with open(args.file, encoding="utf-8") as handle:
            good, bad = prepare(handle, clock)
    for rejected in bad:
        print(f"line {rejected.line}: {rejected.error}", file=sys.stderr)
    if good and not args.dry_run:
        asyncio.run(publish(good, settings))
    verb = "valid" if args.dry_run else "published"
    print(f"{len(good)} {verb}, {len(bad)} rejected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
