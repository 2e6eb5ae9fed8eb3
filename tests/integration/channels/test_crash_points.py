"""A channel worker dies right after one of the two writes that finish a request (its outcome, its send
ledger result) and the next owner takes over: the request still ends with exactly one final outcome, and the
provider received it at most once.

The crash is an exception raised right after the chosen write was acknowledged: nothing after it happens,
the batch is not committed, and a new worker in the same group gets the approval again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas import events as ev
from schemas.topics import DISPATCH, OUTCOMES
from schemas.topics import SENDER_LEDGER as LEDGER
from schemas.vocab import Channel, OutcomeStatus
from services.channels.ledger import LedgerEntry
from services.core.runtime import clients
from services.core.runtime.clients import partitions
from services.core.settings import CommonSettings
from tests.channels_support import START, Providers, approval, phone
from tests.integration.channels.conftest import Workers
from tests.support import Tail, publish

POINTS = ("outcome", "ledger")


class Crash(Exception):
    """Stands in for SIGKILL at the chosen point."""


def crash_after(
    monkeypatch: pytest.MonkeyPatch, settings: CommonSettings, point: str, request_id: str
) -> None:
    """Make the acknowledgement of the request's outcome, or of its finished ledger entry, raise ``Crash``:
    whatever the worker does once that write is acknowledged does not happen."""
    send = AIOKafkaProducer.send

    def chosen(topic: str, key: bytes | None, value: bytes | None) -> bool:
        if value is None or request_id.encode() not in value:
            return False
        if point == "outcome":
            return topic == settings.topic(OUTCOMES)
        return topic == settings.topic(LEDGER) and LedgerEntry.model_validate_json(value).settled

    async def sent(self: AIOKafkaProducer, topic: str, value: Any = None, key: Any = None, **kw: Any) -> Any:
        delivery = await send(self, topic, value, key, **kw)
        if not chosen(topic, key, value):
            return delivery

        async def acknowledged() -> None:
            await delivery
            raise Crash(f"right after the {point} write was acknowledged")

        return asyncio.ensure_future(acknowledged())

    monkeypatch.setattr(AIOKafkaProducer, "send", sent)


async def committed_to_end(settings: CommonSettings, channel: Channel, timeout: float = 60.0) -> None:
    """Wait until the channel's worker group has committed its dispatch topic to the end."""
    group, topic = settings.group(f"channels-{channel.value}"), settings.topic(DISPATCH[channel])
    admin = clients.admin(settings, "tests")
    ends = clients.consumer(settings, None, "tests")
    await admin.start()
    await ends.start()
    try:
        tps = await partitions(ends, topic)
        deadline = time.monotonic() + timeout
        while True:
            end = await ends.end_offsets(tps)
            committed = dict(await admin.list_consumer_group_offsets(group))
            if all(end[tp] == 0 or (tp in committed and committed[tp].offset >= end[tp]) for tp in tps):
                return
            assert time.monotonic() < deadline, f"{group} has not committed {topic} to its end"
            await asyncio.sleep(0.1)
    finally:
        await ends.stop()
        await admin.close()


async def crash_and_take_over(
    workers: Workers, channel: Channel, point: str, request: ev.ContactApproved, **config: Any
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        crash_after(patch, workers.settings, point, request.request_id)
        app, task = await workers.start(channel, **config)
        await publish(workers.settings, [request], time=START)
        with pytest.raises(Crash):
            await asyncio.wait_for(task, 60)
    workers.running.remove((app, task))
    await workers.start(channel, **config)
    await committed_to_end(workers.settings, channel)


def finals(tail: Tail, request_id: str) -> set[tuple[str, OutcomeStatus]]:
    return {
        (o.outcome_id, o.status) for o in tail.of(ev.ContactOutcome) if o.request_id == request_id and o.final
    }


@pytest.mark.parametrize("point", POINTS)
async def test_an_email_sent_before_a_crash_ends_sent_once(
    providers: Providers, workers: Workers, tail: Tail, point: str
) -> None:
    request = approval("d-mail", f"r-mail-{point}", "alex@example.com", channel=Channel.EMAIL)
    await crash_and_take_over(workers, Channel.EMAIL, point, request)
    await tail.settle()
    assert {status for _, status in finals(tail, request.request_id)} == {OutcomeStatus.SENT}
    assert len(finals(tail, request.request_id)) == 1
    assert len(await providers.mail()) == 1


@pytest.mark.parametrize("point", POINTS)
async def test_an_sms_failed_after_the_retry_bound_is_not_sent_after_a_crash(
    providers: Providers, workers: Workers, tail: Tail, point: str
) -> None:
    # Refused as often as the worker tries, then accepted: a new attempt after the crash would go out.
    number = phone(40)
    await providers.faults(**{number: {"behaviour": "rate_limited", "times": 2}})
    request = approval("d-sms", f"r-sms-{point}", number)
    await crash_and_take_over(workers, Channel.SMS, point, request, max_attempts=2)
    await tail.settle()
    assert {status for _, status in finals(tail, request.request_id)} == {OutcomeStatus.FAILED}
    assert len(finals(tail, request.request_id)) == 1
    assert await providers.messages() == []
