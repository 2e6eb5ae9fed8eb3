"""An inbound STOP (and 退订) becomes an opt-out, and the gatekeeper then blocks the next SMS: the sandbox
posts the debtor's reply as Twilio's signed webhook, the webhooks service turns it into ConsentChanged, and
the gatekeeper, run in-process on the same broker, decides the next request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from schemas import events as ev
from schemas.topics import ACCOUNT, CONSENT, DECISIONS, OUTCOMES, REQUESTS
from schemas.vocab import Channel, DecisionKind, ReasonCode
from services.core.clock import ManualClock
from services.core.runtime import clients
from services.core.runtime.clients import partitions
from services.core.settings import CommonSettings
from services.gatekeeper.app import GatekeeperApp
from services.webhooks.app import WebhooksApp
from tests.channels_support import START, Providers, eventually, phone
from tests.support import Tail, gatekeeper_settings, publish


@pytest.fixture
async def gatekeeper(settings: CommonSettings, clock: ManualClock) -> AsyncIterator[GatekeeperApp]:
    app = GatekeeperApp(settings, gatekeeper_settings(), clock)
    task = asyncio.create_task(app.run())
    yield app
    app.stop()
    await asyncio.wait_for(task, 30)


async def caught_up(settings: CommonSettings, group: str, topics: list[str], timeout: float = 30) -> None:
    """Wait until ``group`` has committed everything on ``topics``: the service has applied it."""
    admin = clients.admin(settings, "tests")
    ends = clients.consumer(settings, None, "tests")
    await admin.start()
    await ends.start()
    try:
        tps = [tp for topic in topics for tp in await partitions(ends, settings.topic(topic))]
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            latest = await ends.end_offsets(tps)
            if all((committed[tp].offset if tp in committed else 0) >= latest[tp] for tp in tps):
                return
            assert time.monotonic() < deadline, f"{group} not caught up within {timeout}s"
            await asyncio.sleep(0.05)
    finally:
        await ends.stop()
        await admin.close()


def profile(debtor: str, number: str, language: str) -> ev.DebtorProfileUpdated:
    return ev.DebtorProfileUpdated(
        debtor_id=debtor,
        contact_points=[
            ev.ContactPoint(
                type=ev.ContactPointType.PHONE, address=number, consents=[Channel.SMS, Channel.VOICE]
            )
        ],
        timezone="America/New_York",
        language=language,
        jurisdictions=["US"],
    )


def sms_request(debtor: str, request_id: str, number: str) -> ev.ContactRequested:
    return ev.ContactRequested(
        debtor_id=debtor,
        request_id=request_id,
        account_id=f"acc-{debtor}",
        channel=Channel.SMS,
        destination=number,
        template="reminder",
        strategy="default",
        strategy_version="3",
        arm="champion",
        requested_at=START,
    )


@pytest.mark.parametrize(("word", "language"), [("STOP", "en-US"), (" 退订 ", "zh-CN")])
async def test_an_inbound_opt_out_makes_the_gatekeeper_block_the_next_sms(
    settings: CommonSettings,
    providers: Providers,
    webhooks: WebhooksApp,
    gatekeeper: GatekeeperApp,
    tail: Tail,
    word: str,
    language: str,
) -> None:
    number = phone(20)
    await publish(settings, [profile("d-stop", number, language)], time=START)
    await publish(settings, [sms_request("d-stop", "r-before", number)], time=START)
    async with Tail(settings, DECISIONS) as decisions:
        # Consented, 11:00 in New York: the first SMS may go (once the profile has reached the gatekeeper).
        await decisions.wait_for(
            lambda: any(d.decision is DecisionKind.ALLOW for d in decided(decisions, "r-before"))
        )

        await eventually(lambda: webhooks.directory.debtors(number) == ["d-stop"])
        await providers.inbound(number, word, webhooks.hooks.base + "/twilio/messages/inbound")
        await tail.wait_for(lambda: tail.of(ev.ConsentChanged))
        [consent] = tail.of(ev.ConsentChanged)
        assert (consent.debtor_id, consent.address, consent.channel) == ("d-stop", number, Channel.SMS)
        assert (consent.change, consent.source) == (ev.ConsentChange.OPT_OUT, ev.ConsentSource.SMS_REPLY)
        # The requests topic is read apart from the consent topic: let the opt-out land first.
        await caught_up(settings, settings.group("gatekeeper"), [CONSENT, ACCOUNT, OUTCOMES, REQUESTS])

        await publish(settings, [sms_request("d-stop", "r-after", number)], time=START)
        await decisions.wait_for(lambda: decided(decisions, "r-after"))
    [after] = decided(decisions, "r-after")
    assert after.decision is DecisionKind.BLOCK
    assert ReasonCode.OPTED_OUT in after.reasons
    assert not [a for a in tail.of(ev.ContactApproved) if a.request_id == "r-after"]


def decided(tail: Tail, request_id: str) -> list[ev.ComplianceDecision]:
    return [d for d in tail.of(ev.ComplianceDecision) if d.request_id == request_id]
