"""Changelogs written by release 0.1.0 restore in this release: every state record decodes into today's
models, tombstones delete, and the schedule comes back from the headers (tests/fixtures/changelogs-0.1.0)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from schemas.topics import ESCALATION_STATE, GATEKEEPER_STATE, SENDER_LEDGER
from schemas.vocab import Channel
from services.channels.ledger import LedgerState
from services.channels.ledger_store import SendLedger
from services.core.clock import ManualClock
from services.core.metrics import PipelineMetrics
from services.core.runtime.keyed import KeyedStage
from services.core.runtime.loop import Runtime
from services.core.runtime.memory import MemoryBroker
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader
from services.core.settings import DEPLOY_DIR, CommonSettings
from services.escalation.service import Escalation
from services.escalation.strategy import load_strategy
from services.gatekeeper.policy import PolicyBook
from services.gatekeeper.service import Gatekeeper

FIXTURES = Path(__file__).parents[1] / "fixtures" / "changelogs-0.1.0"
# The instant the fixtures were written at: nothing they schedule is due yet.
WRITTEN = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)


def load_into(broker: MemoryBroker, topic: str, name: str) -> None:
    for line in (FIXTURES / name).read_text().splitlines():
        item = orjson.loads(line)
        value = base64.b64decode(item["value"]) if item["value"] is not None else None
        headers = [(n, base64.b64decode(v)) for n, v in item["headers"]]
        broker.append(topic, base64.b64decode(item["key"]), value, headers, partition=0)


async def restored(
    handler: Gatekeeper | Escalation, name: str, broker: MemoryBroker | None = None
) -> KeyedStage:  # type: ignore[type-arg]
    broker = broker or MemoryBroker(partitions=1)
    load_into(broker, handler.state_topic, name)
    stage: KeyedStage = KeyedStage(handler)  # type: ignore[type-arg]
    runtime = Runtime(
        stage,
        CommonSettings(),
        ManualClock(WRITTEN),
        PipelineMetrics(CollectorRegistry(), handler.service),
        connector=broker,
        tick_seconds=0,
    )
    await runtime.start()
    await runtime.step()  # joins the group: the changelog partition is restored
    return stage


async def test_gatekeeper_state_of_0_1_0_restores_and_goes_on() -> None:
    broker = MemoryBroker(partitions=1)
    stage = await restored(
        Gatekeeper(PolicyBook.load(DEPLOY_DIR / "policies")), "gatekeeper.state.jsonl", broker
    )
    d1, d2 = stage.state("d1"), stage.state("d2")
    assert d1 is not None and d2 is not None and stage.state("d3") is None
    assert [d.request.request_id for d in d1.deferred] == ["r-deferred"]  # type: ignore[attr-defined]
    assert [e.request_id for e in d1.ledger] == ["r-approved"]  # type: ignore[attr-defined]
    assert d1.opted_out("d1@example.com", Channel.EMAIL)  # type: ignore[attr-defined]
    assert "a9" in d2.paid  # type: ignore[attr-defined]
    assert stage.next_due() is not None and stage.scheduled() == 2
    assert Gatekeeper.state_topic == GATEKEEPER_STATE


async def test_escalation_state_of_0_1_0_restores() -> None:
    strategy = load_strategy(DEPLOY_DIR / "strategies" / "standard.toml")
    stage = await restored(Escalation(strategy, "https://pay.example/p"), "escalation.state.jsonl")
    d1, d2 = stage.state("d1"), stage.state("d2")
    assert d1 is not None and d2 is not None and stage.state("d3") is None
    assert list(d1.accounts) == ["a1"]  # type: ignore[attr-defined]
    assert d2.accounts["a1"].promise.promise_id == "ptp1"  # type: ignore[attr-defined]
    assert stage.next_due() is not None
    assert Escalation.state_topic == ESCALATION_STATE


async def test_send_ledger_of_0_1_0_restores() -> None:
    broker = MemoryBroker(partitions=1)
    load_into(broker, SENDER_LEDGER, "sender.ledger.jsonl")
    publisher = Publisher(broker.producer("t"), CommonSettings(), "channels-sms", "/t")
    ledger = SendLedger(
        publisher, TopicReader(broker.consumer(None, "t")), SENDER_LEDGER, Channel.SMS, timedelta(days=35)
    )
    await ledger.restore([0], WRITTEN)
    states = {r: ledger.get(0, f"r-{r}") for r in ("claimed", "sent", "done", "unknown", "gone")}
    assert {r: e.state if e else None for r, e in states.items()} == {
        "claimed": LedgerState.CLAIMED,
        "sent": LedgerState.SENT,
        "done": LedgerState.DONE,
        "unknown": LedgerState.UNKNOWN,
        "gone": None,
    }
    sent = states["sent"]
    assert sent is not None and sent.result() is not None and sent.segments == 2
