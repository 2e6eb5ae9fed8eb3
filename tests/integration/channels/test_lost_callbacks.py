"""Lost callbacks on the real broker, against the Twilio sandbox over HTTP: the sandbox finishes the message
or call but its status callback never reaches the webhooks (their host is not one it may call). Once the
worker's clock passes the bound, the worker's sweep asks the provider (GET Messages/{sid}, Calls/{sid}) and
publishes the final outcome the callback would have carried, with the callback's own id; a send the provider
has no record of ends ``unknown``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schemas import events as ev
from schemas import ids
from schemas.vocab import Channel, OutcomeStatus
from services.channels.app import ChannelApp
from services.core.clock import ManualClock
from services.core.settings import CommonSettings
from tests.channels_support import START, Providers, approval, eventually, phone, table_number
from tests.integration.channels.conftest import Workers
from tests.support import Tail, publish

BOUND = 600.0
# Not among the sandbox's allowed callback hosts: every status callback is dropped, as if lost on the way.
UNREACHABLE = "http://callbacks.invalid"


def outcomes(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


def final(tail: Tail, request_id: str) -> ev.ContactOutcome | None:
    return next((o for o in outcomes(tail, request_id) if o.final), None)


def swept(app: ChannelApp, channel: Channel, outcome: OutcomeStatus) -> float:
    labels = {"channel": channel.value, "outcome": outcome.value}
    return app.registry.get_sample_value("collections_channel_lost_callbacks_total", labels) or 0.0


async def test_an_sms_whose_callback_was_lost_is_settled_by_asking_twilio_and_a_vanished_one_is_unknown(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail, clock: ManualClock
) -> None:
    app, _ = await workers.start(
        Channel.SMS, webhooks_base_url=UNREACHABLE, lost_callback_after_seconds=BOUND
    )
    await publish(settings, [approval("d1", "r-lost", phone(1))], time=START)
    await tail.wait_for(lambda: len(outcomes(tail, "r-lost")) == 1)
    [message] = await eventually(lambda: delivered(providers, "r-lost"))
    assert all(c["http_status"] is None for c in message["callbacks"])  # none reached the webhooks

    clock.advance(timedelta(seconds=BOUND - 1))
    await tail.settle()
    assert final(tail, "r-lost") is None  # within the bound: the callback may still come

    clock.advance(timedelta(seconds=2))
    await tail.wait_for(lambda: final(tail, "r-lost") is not None)
    settled = final(tail, "r-lost")
    assert settled is not None
    assert (settled.status, settled.provider_ref) == (OutcomeStatus.DELIVERED, message["sid"])
    # The callback's own id: had it come after all, consumers would apply the delivery once.
    assert settled.outcome_id == ids.outcome_id("r-lost", OutcomeStatus.DELIVERED, ids.Observer.CALLBACK)
    assert (settled.debtor_id, settled.account_id, settled.arm) == ("d1", "acc-d1", "champion")
    assert settled.cost == 0  # as on the callback's outcome: the message's cost was on its "sent"
    await eventually(lambda: swept(app, Channel.SMS, OutcomeStatus.DELIVERED) == 1)  # after the ledger

    # A message the provider no longer has (here the sandbox forgot it): nobody can tell what became of it.
    await publish(settings, [approval("d2", "r-vanished", phone(2))], time=clock.now())
    await tail.wait_for(lambda: len(outcomes(tail, "r-vanished")) == 1)
    await eventually(lambda: delivered(providers, "r-vanished"))
    response = await providers.control.post("/_sandbox/reset")
    assert response.status_code == 200
    clock.advance(timedelta(seconds=BOUND + 1))
    await tail.wait_for(lambda: final(tail, "r-vanished") is not None)
    unknown = final(tail, "r-vanished")
    assert unknown is not None and unknown.status is OutcomeStatus.UNKNOWN
    await eventually(lambda: swept(app, Channel.SMS, OutcomeStatus.UNKNOWN) == 1)
    # Settled once: later sweeps leave both alone.
    clock.advance(timedelta(seconds=BOUND * 3))
    await tail.settle()
    assert [o.final for o in outcomes(tail, "r-lost")] == [False, True]
    assert [o.final for o in outcomes(tail, "r-vanished")] == [False, True]


async def delivered(providers: Providers, request_id: str) -> list[dict[str, Any]]:
    found = await providers.messages(request_id=request_id)
    return found if found and found[0]["status"] == "delivered" else []


async def test_a_call_whose_callback_was_lost_ends_with_the_status_twilio_gives(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail, clock: ManualClock
) -> None:
    app, _ = await workers.start(
        Channel.VOICE, webhooks_base_url=UNREACHABLE, lost_callback_after_seconds=BOUND
    )
    await publish(settings, [approval("d3", "r-call", table_number("22"), channel=Channel.VOICE)], time=START)
    await tail.wait_for(lambda: len(outcomes(tail, "r-call")) == 1)

    async def ended() -> list[dict[str, Any]]:
        found = await providers.calls(request_id="r-call")
        return found if found and found[0]["status"] == "no-answer" else []

    [call] = await eventually(ended)
    clock.advance(timedelta(seconds=BOUND + 1))
    await tail.wait_for(lambda: final(tail, "r-call") is not None)
    settled = final(tail, "r-call")
    assert settled is not None
    assert (settled.status, settled.provider_ref) == (OutcomeStatus.NO_ANSWER, call["sid"])
    assert settled.outcome_id == ids.final_status_id("r-call", OutcomeStatus.NO_ANSWER)
    await eventually(lambda: swept(app, Channel.VOICE, OutcomeStatus.NO_ANSWER) == 1)
