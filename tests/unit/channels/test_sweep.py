"""The lost-callback sweep on its clock, without a broker or a provider: nothing is asked before the bound;
a final status is published under the callback's id and recorded; a send still under way is asked again and
ends ``unknown`` only after the give-up bound; a lookup that fails is no verdict; an email is never asked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas import events as ev
from schemas import ids
from schemas.vocab import Channel, OutcomeStatus
from services.channels.errors import TransientSendError
from services.channels.ledger import LedgerEntry, LedgerState
from services.channels.ledger_store import SendLedger
from services.channels.metrics import ChannelMetrics
from services.channels.outcomes import SendResult
from services.channels.settings import ChannelsSettings
from services.channels.worker import ChannelWorker
from services.core.clock import ManualClock
from tests.support import APPROVAL_PUBLIC_KEY

START = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
BOUND = timedelta(hours=1)
GIVE_UP = timedelta(hours=6)


class Acknowledged:
    """The runtime's publisher and the ledger's producer: every send acknowledged at once, and kept."""

    def __init__(self) -> None:
        self.events: list[ev.ContactOutcome] = []

    async def send_event(self, event: Any, event_id: str, now: datetime, topic: str) -> asyncio.Future[Any]:
        self.events.append(event)
        return _done()

    async def send(self, *record: Any) -> asyncio.Future[Any]:
        return _done()


def _done() -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class Provider:
    """A driver whose lookups answer what the test scripted, per provider reference."""

    channel = Channel.SMS
    provider = "fake"

    def __init__(self) -> None:
        self.answers: dict[str, SendResult | Exception | None] = {}
        self.asked: list[str] = []

    async def settle(self, provider_ref: str) -> SendResult | None:
        self.asked.append(provider_ref)
        answer = self.answers.get(provider_ref)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


def worker() -> tuple[ChannelWorker, Provider, Acknowledged, ManualClock, SendLedger]:
    settings = ChannelsSettings(
        webhooks_base_url="http://127.0.0.1:8080",
        link_signing_keys=[SecretStr("k" * 32)],
        approval_keys=[APPROVAL_PUBLIC_KEY],
        lost_callback_after_seconds=BOUND.total_seconds(),
        lost_callback_give_up_seconds=GIVE_UP.total_seconds(),
    )
    provider, published, clock = Provider(), Acknowledged(), ManualClock(START)
    running = ChannelWorker(provider, settings, clock, ChannelMetrics(CollectorRegistry()))  # type: ignore[arg-type]
    running._runtime = SimpleNamespace(publisher=published, stop=lambda: None, stopping=False)  # type: ignore[assignment]
    ledger = SendLedger(published, None, "ledger", Channel.SMS, timedelta(days=35))  # type: ignore[arg-type]
    running.ledger = ledger
    return running, provider, published, clock, ledger


def sent(request_id: str, *, channel: Channel = Channel.SMS, final: bool = False) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        channel=channel,
        debtor_id="d1",
        account_id="acc-1",
        strategy="default",
        arm="champion",
        state=LedgerState.SENT,
        destination="+14155550100",
        claimed_at=START,
        provider_ref=f"SM-{request_id}",
        outcome=OutcomeStatus.SENT,
        final=final,
        valid_until=START + timedelta(hours=6),
    )


async def test_a_final_status_is_asked_only_after_the_bound_and_published_under_the_callback_s_id() -> None:
    running, provider, published, clock, ledger = worker()
    await ledger.write(0, sent("r-1"))
    await ledger.write(0, sent("r-mail", channel=Channel.EMAIL, final=True))  # accepted by the relay: final
    provider.answers["SM-r-1"] = SendResult(OutcomeStatus.DELIVERED, True, provider_ref="SM-r-1")

    clock.advance(BOUND - timedelta(seconds=1))
    await running.handle([], clock.now())
    assert provider.asked == []

    clock.advance(timedelta(seconds=1))
    await running.handle([], clock.now())
    assert provider.asked == ["SM-r-1"]
    [outcome] = published.events
    assert (outcome.request_id, outcome.status, outcome.final) == ("r-1", OutcomeStatus.DELIVERED, True)
    assert outcome.outcome_id == ids.final_status_id("r-1", OutcomeStatus.DELIVERED)
    assert (outcome.debtor_id, outcome.account_id, outcome.arm) == ("d1", "acc-1", "champion")
    recorded = ledger.get(0, "r-1")
    assert recorded is not None and recorded.final and recorded.outcome_id == outcome.outcome_id

    clock.advance(BOUND)
    await running.handle([], clock.now())
    assert provider.asked == ["SM-r-1"]  # settled once


async def test_a_send_still_under_way_is_asked_again_and_unknown_only_after_the_give_up_bound() -> None:
    running, provider, published, clock, ledger = worker()
    await ledger.write(0, sent("r-slow"))
    await ledger.write(0, sent("r-failing"))
    provider.answers["SM-r-slow"] = None  # Twilio still says "sent": no delivery report yet
    provider.answers["SM-r-failing"] = TransientSendError("could not fetch from Messages")

    while clock.now() < START + GIVE_UP - timedelta(minutes=15):
        clock.advance(timedelta(minutes=15))
        await running.handle([], clock.now())
    assert published.events == []
    assert provider.asked.count("SM-r-slow") > 1

    clock.advance(timedelta(minutes=15))
    await running.handle([], clock.now())
    assert sorted((o.request_id, o.status) for o in published.events) == [
        ("r-failing", OutcomeStatus.UNKNOWN),
        ("r-slow", OutcomeStatus.UNKNOWN),
    ]
    assert all(o.final for o in published.events)
    assert running.metrics.lost_callbacks.labels("sms", "unknown")._value.get() == 2
