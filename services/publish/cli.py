"""``collections publish FILE``: validate each event line against the contract and publish the valid ones.

Invalid lines are reported with their line number on stderr and are not published; the exit code is 1 if
any line was invalid. The line format is described in ``services.core.eventlines``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from schemas.topics import ACCOUNT, TOPIC_EVENTS
from services.core import eventlines
from services.core.cli import Command
from services.core.clock import clock_from_spec
from services.core.packs import PolicyFolder, pack_ids
from services.core.runtime import clients
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.settings import CommonSettings, load


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="JSON lines file, or - for standard input")
    parser.add_argument("--dry-run", action="store_true", help="validate only")


def run(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    clock = clock_from_spec(settings.clock)
    # Core banking writes the account topic's events only; the rest is the platform's own.
    edge = eventlines.Edge(
        types=frozenset(TOPIC_EVENTS[ACCOUNT]),
        packs=pack_ids(load(PolicyFolder).policies),
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
    )
    if args.file == "-":
        good, bad = eventlines.parse(sys.stdin, clock, edge)
    else:
        with open(args.file, encoding="utf-8") as handle:
            good, bad = eventlines.parse(handle, clock, edge)
    for rejected in bad:
        print(f"line {rejected.line}: {rejected.error}", file=sys.stderr)
    if good and not args.dry_run:
        asyncio.run(publish(good, settings))
    verb = "valid" if args.dry_run else "published"
    print(f"{len(good)} {verb}, {len(bad)} rejected")
    return 1 if bad else 0


async def publish(lines: list[eventlines.EventLine], settings: CommonSettings) -> None:
    await clients.check_topics(
        settings, sorted({settings.topic(line.topic) for line in lines}), "collections-publish"
    )
    publisher = Publisher(KafkaConnector(settings).producer("collections-publish"), settings, "publish", "")
    await publisher.start()
    try:
        for line in lines:
            enc = line.encoded
            publisher.queue(settings.topic(line.topic), enc.key, enc.value, enc.headers)
        await publisher.flush()
    finally:
        await publisher.stop()


PUBLISH = Command(
    "validate event lines (JSON) against the contract and publish the valid ones",
    configure,
    run,
    description=__doc__,
)
