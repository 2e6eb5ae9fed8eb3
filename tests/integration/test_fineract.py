"""The Fineract adapter against the real broker: Fineract-shaped records (no headers, 8-byte keys, Avro) on
the bank's topic, through the adapter to collections.account.v1, and escalation requesting a contact; held
records surviving a restart, and the bootstrap command's seeds releasing them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from schemas import events as ev
from schemas.topics import ACCOUNT, FINERACT_STATE, REQUESTS
from services.core.catalog import Catalog, TopicSpec, apply, load_catalog
from services.core.clock import ManualClock
from services.core.settings import REPO_ROOT, CommonSettings
from services.escalation.app import EscalationApp
from services.escalation.settings import EscalationSettings
from services.fineract import avro
from services.fineract.app import FineractApp
from services.fineract.settings import FineractSettings
from tests.support import Record, consume, decoded, kafka_env, produce
from tests.unit.fineract import wire
from tests.unit.fineract.test_state import LISTING

FINERACT_TOPIC = "external-events"
NOW = datetime(2024, 10, 24, 10, 0, tzinfo=UTC)  # an hour after the records' createdAt


def key(aggregate_id: int) -> bytes:
    return aggregate_id.to_bytes(8, "big", signed=True)


async def fineract_topic(settings: CommonSettings) -> None:
    """The bank's topic, as Fineract creates it (here with the tests' partition count)."""
    shipped = load_catalog()
    catalog = Catalog(
        defaults=shipped.defaults,
        access=shipped.access,
        principals=shipped.principals,
        topics=[
            TopicSpec(name=FINERACT_TOPIC, description="Fineract's external events", writers=[], readers=[])
        ],
    )
    # Fineract's topic is the bank's, outside the catalog's ACLs: the services here run as the admin.
    await apply(settings, prefix=settings.topic_prefix, catalog=catalog, partitions=4, acl=False)


async def fineract(settings: CommonSettings, *records: tuple[int, bytes]) -> None:
    """Produce records as Fineract does: keyed by the aggregate's id, no headers."""
    await produce(settings, [(FINERACT_TOPIC, key(aggregate), value, []) for aggregate, value in records])


@asynccontextmanager
async def running(app: FineractApp | EscalationApp) -> AsyncIterator[None]:
    task = asyncio.create_task(app.run())
    try:
        yield
    finally:
        app.stop()
        await asyncio.wait_for(task, 30)


def events_of(
    kind: type[ev.BaseModel], where: Callable[[ev.BaseModel], bool]
) -> Callable[[list[Record]], bool]:
    return lambda records: any(isinstance(e.event, kind) and where(e.event) for e in decoded(records))


async def test_fineract_records_become_account_events_and_escalation_requests_a_contact(
    settings: CommonSettings,
) -> None:
    await fineract_topic(settings)
    adapter = FineractApp(settings, FineractSettings(), ManualClock(NOW))
    escalation = EscalationApp(settings, EscalationSettings(), ManualClock(NOW))
    async with running(adapter), running(escalation):
        # The client first: its profile must reach escalation before the ladder's first step is due.
        client = wire.event(
            "ClientActivateBusinessEvent", avro.CLIENT, wire.client(), category="Client", key="k-client"
        )
        await fineract(settings, (17, client))
        await consume(settings, ACCOUNT, events_of(ev.DebtorProfileUpdated, lambda e: e.debtor_id == "17"))
        loan = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), key="k-loan")
        overdue = wire.event(
            "LoanRepaymentOverdueBusinessEvent",
            avro.LOAN_REPAYMENT_DUE,
            wire.repayment_due(),
            key="k-overdue",
        )
        await fineract(settings, (42, loan), (42, overdue))

        records = await consume(
            settings, ACCOUNT, events_of(ev.AccountOverdue, lambda e: e.debtor_id == "17")
        )
        [published] = [e for e in decoded(records) if isinstance(e.event, ev.AccountOverdue)]
        assert (published.id, published.time) == ("k-overdue", datetime(2024, 10, 24, 9, 52, 59, 123456, UTC))
        [record] = [r for r in records if dict(r.headers)["ce_id"] == b"k-overdue"]
        assert record.key == b"17"  # keyed by debtor, whatever Fineract keyed it by

        requested = await consume(
            settings, REQUESTS, events_of(ev.ContactRequested, lambda e: e.debtor_id == "17")
        )
        [request] = [e.event for e in decoded(requested) if isinstance(e.event, ev.ContactRequested)]
        assert (request.account_id, request.destination) == ("42", "+16175550100")
        # Ten days past due on arrival: the ladder starts at the latest step due, the first call.
        assert request.step == "2024-10-14/early/first-call"
        assert (
            adapter.registry.get_sample_value(
                "collections_fineract_translated_total", {"type": "AccountOverdue"}
            )
            == 1
        )


async def test_a_held_record_survives_a_restart_and_a_bootstrap_seed_releases_it(
    settings: CommonSettings, tmp_path: Path
) -> None:
    await fineract_topic(settings)
    overdue = wire.event(
        "LoanRepaymentOverdueBusinessEvent", avro.LOAN_REPAYMENT_DUE, wire.repayment_due(), key="k-held"
    )
    first = FineractApp(settings, FineractSettings(), ManualClock(NOW))
    async with running(first):
        await fineract(settings, (42, overdue))
        await consume(settings, FINERACT_STATE, lambda records: len(records) == 1)  # held, in the changelog
    page = tmp_path / "loans.json"
    page.write_text(json.dumps(LISTING))
    second = FineractApp(settings, FineractSettings(), ManualClock(NOW))
    async with running(second):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FINERACT_ADAPTER_", "COLLECTIONS_"))}
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.fineract", "bootstrap", str(page)],
            capture_output=True,
            cwd=REPO_ROOT,
            env={
                **env,
                "PYTHONPATH": str(REPO_ROOT),
                **kafka_env(settings),
            },
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().strip() == "2 loans seeded, 2 items skipped"
        records = await consume(
            settings, ACCOUNT, events_of(ev.AccountOverdue, lambda e: e.account_id == "42")
        )
        [released] = [e for e in decoded(records) if isinstance(e.event, ev.AccountOverdue)]
        assert isinstance(released.event, ev.AccountOverdue) and released.id == "k-held"
        assert released.event.total_outstanding == Decimal("1200.50")  # as the listing had it
