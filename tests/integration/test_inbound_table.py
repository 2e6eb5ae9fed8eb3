"""The consumers over the shared table of inbound samples (tests/inbound_cases.py): each record, written by
core banking's principal on the account topic as the publish command would have written it had it let it
through, gets the table's verdict from the gatekeeper and from escalation: applied, dead-lettered with the
reason, or a profile kept without the value that did not parse (counted). The publish command's side runs in
the unit tier (tests/unit/edge/test_publish_table.py)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter

import orjson
from prometheus_client import CollectorRegistry

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, DECISIONS
from schemas.vocab import Channel, ReasonCode
from services.core.clock import ManualClock
from services.core.settings import CommonSettings
from services.escalation.app import EscalationApp
from services.escalation.settings import EscalationSettings
from services.gatekeeper.app import GatekeeperApp
from tests.conftest import Principal
from tests.inbound_cases import APPLIED, CASES, KEPT_WITHOUT_IT, NOW
from tests.support import Tail, gatekeeper_settings, produce, publish

CONSUMERS = ("gatekeeper", "escalation")


def _record(n: int) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    case = CASES[n]
    debtor = f"d-table-{n}"
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", uuid.uuid4().hex.encode()),
        ("ce_source", b"/core-banking"),
        ("ce_type", f"collections.{case.type}.v1".encode()),
        ("ce_time", case.time.isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    return (ACCOUNT, case.key(debtor).encode(), orjson.dumps(case.payload(debtor)), headers)


async def test_every_consumer_gives_every_sample_the_tables_verdict(
    settings: CommonSettings, principal: Principal
) -> None:
    clock = ManualClock(NOW)
    registries = {name: CollectorRegistry() for name in CONSUMERS}
    gatekeeper = GatekeeperApp(
        principal("gatekeeper"), gatekeeper_settings(), clock, registry=registries["gatekeeper"]
    )
    escalation = EscalationApp(
        principal("escalation"), EscalationSettings(), clock, registry=registries["escalation"]
    )
    apps = (gatekeeper, escalation)
    tasks = [asyncio.create_task(app.run()) for app in apps]
    refused = [case for case in CASES if case.consumer not in (APPLIED, KEPT_WITHOUT_IT)]
    kept = [case for case in CASES if case.consumer == KEPT_WITHOUT_IT]
    try:
        await produce(principal("core-banking"), [_record(n) for n in range(len(CASES))])
        async with Tail(settings, DEADLETTER, DECISIONS) as tail:

            def dropped(name: str) -> float:
                value = registries[name].get_sample_value(
                    "collections_dropped_values_total", {"service": name}
                )
                return value or 0.0

            await tail.wait_for(
                lambda: (
                    len(tail.of(ev.DeadLetter)) >= len(CONSUMERS) * len(refused)
                    and all(dropped(name) >= len(kept) for name in CONSUMERS)
                ),
                timeout=60,
            )
            # Everything written so far has been read: a verdict that differs from the table shows now.
            no_pack = next(n for n, case in enumerate(CASES) if case.name == "jurisdiction without a pack")
            marker = ev.ContactRequested(
                debtor_id=f"d-table-{no_pack}",
                request_id="r-table-no-pack",
                account_id="acc-1",
                channel=Channel.SMS,
                destination="+14155550100",
                template="reminder",
                strategy="standard",
                strategy_version="1",
                arm="champion",
                requested_at=NOW,
            )
            await publish(settings, [marker], time=NOW)
            await tail.wait_for(lambda: bool(tail.of(ev.ComplianceDecision)))
            await tail.settle()

            verdicts: dict[tuple[str, str], str] = {}
            for letter in tail.of(ev.DeadLetter):
                key = base64.b64decode(letter.key_b64 or "").decode()
                verdicts[(letter.consumer, key)] = letter.reason.value
            for n, case in enumerate(CASES):
                debtor = f"d-table-{n}"
                for name in CONSUMERS:
                    got = verdicts.get((name, case.key(debtor)), "applied or kept")
                    want = case.consumer if case in refused else "applied or kept"
                    assert got == want, f"{name}: {case.name}: {got}"
            assert Counter(consumer for consumer, _ in verdicts) == dict.fromkeys(CONSUMERS, len(refused))
            for name in CONSUMERS:
                assert dropped(name) == len(kept), name
            [decision] = tail.of(ev.ComplianceDecision)
            assert decision.reasons == [ReasonCode.NO_PACK]
        assert all(not task.done() for task in tasks)
    finally:
        for app in apps:
            app.stop()
        await asyncio.gather(*tasks)
