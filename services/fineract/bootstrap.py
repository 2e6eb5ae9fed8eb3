"""The ``bootstrap`` command: seed the adapter's loans from Fineract's loan listing.

Each FILE (or ``-`` for standard input) is one page of Fineract's ``GET /v1/loans`` as JSON
(``{"totalFilteredRecords": n, "pageItems": [...]}``; page with ``offset`` and ``limit`` and give every
page). Each loan listed becomes one ``CollectionsLoanSeed`` record on the Fineract topic
(``FINERACT_ADAPTER_TOPIC``, with the deployment's prefix), in Fineract's own envelope and schemas, keyed
by the loan id as Fineract keys the loan's records, so it lands on their partition and is read in order
with them. The adapter learns the loan from it only if no event taught it already (the stream is newer than
any listing), and records it held for the loan are translated at once.

The seeds go on the topic rather than into the changelog because the running adapter reads the topic:
a seed written into the changelog would be seen only after a restart, and could overwrite what the
adapter learned or holds meanwhile. Seeding the same listing twice is harmless: a seed's idempotency key is
derived from the loan as listed, and the adapter applies each key once.

Prints how many loans were seeded, and how many items could not be read (skipped, counted).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from services.core.cli import fail
from services.core.clock import clock_from_spec
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.settings import CommonSettings, load
from services.fineract.avro import FineractDecodeError
from services.fineract.encode import Encoded, Encoder
from services.fineract.settings import FineractSettings
from services.fineract.state import LoanState, seed_from_listing

PROG = "collections fineract bootstrap"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="pages of GET /v1/loans (JSON), - for stdin")
    parser.add_argument("--dry-run", action="store_true", help="read the pages, publish nothing")


def run(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    fineract = load(FineractSettings)
    loans: dict[int, LoanState] = {}
    skipped, total = 0, None
    for name in args.files:
        try:
            body = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            page = seed_from_listing(body)
        except OSError as exc:
            return fail(PROG, f"{name}: {exc.strerror or exc}")
        except FineractDecodeError as exc:
            return fail(PROG, f"{name}: {exc.message}")
        loans.update(page.loans)
        skipped += page.skipped
        total = page.total if page.total is not None else total
    now = clock_from_spec(settings.clock).now()
    encoder = Encoder(tenant=fineract.tenant)
    records = [encoder.seed(state, now) for state in loans.values()]
    if records and not args.dry_run:
        asyncio.run(publish(settings, fineract, records))
    verb = "read" if args.dry_run else "seeded"
    print(f"{len(records)} loans {verb}, {skipped} items skipped")
    if total is not None and len(loans) + skipped < total:
        print(
            f"the listing counts {total} loans: give every page (offset and limit) to seed them all",
            file=sys.stderr,
        )
    return 0


async def publish(settings: CommonSettings, fineract: FineractSettings, records: list[Encoded]) -> None:
    # The producer's default partitioner is Kafka's (murmur2 of the key), the one Fineract's producer uses.
    publisher = Publisher(KafkaConnector(settings).producer("fineract-bootstrap"), settings, "bootstrap", "")
    await publisher.start()
    try:
        for record in records:
            publisher.queue(settings.topic(fineract.topic), record.key, record.value)
        await publisher.flush()
    finally:
        await publisher.stop()
