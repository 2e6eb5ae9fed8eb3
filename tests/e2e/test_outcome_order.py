"""Outcomes move forward only, on the broker: the webhooks' final word on a call can reach the outcomes
topic before the voice worker's non-final "sent" for the same request (two producers, either may land first).
The gatekeeper keeps the final one, so the cap it counts is right: in Massachusetts two initiated calls per
account in seven days, where a busy signal is not one."""

from __future__ import annotations

from datetime import timedelta

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus
from tests.e2e.conftest import NY_PHONE, Pipeline, profile

DEBTOR = "ma-order-1"


def call(request_id: str, pipeline: Pipeline) -> ev.ContactRequested:
    return ev.ContactRequested(
        debtor_id=DEBTOR,
        request_id=request_id,
        account_id="a1",
        channel=Channel.VOICE,
        destination=NY_PHONE,
        template="call",
        strategy="standard",
        strategy_version="test",
        arm="champion",
        requested_at=pipeline.now,
    )


def outcome(status: OutcomeStatus, final: bool, pipeline: Pipeline) -> ev.ContactOutcome:
    return ev.ContactOutcome(
        debtor_id=DEBTOR,
        outcome_id=f"c1-{status.value}",
        request_id="c1",
        account_id="a1",
        channel=Channel.VOICE,
        status=status,
        final=final,
        provider="twilio",
        occurred_at=pipeline.now,
    )


async def test_a_late_non_final_outcome_does_not_make_a_busy_call_count_against_the_cap(
    pipeline: Pipeline,
) -> None:
    await pipeline.advance(pipeline.now + timedelta(hours=3))  # 11:00 in Boston
    await pipeline.send(profile(DEBTOR, jurisdictions=["US", "US-MA"]))
    await pipeline.send(call("c1", pipeline))
    await pipeline.send(outcome(OutcomeStatus.BUSY, True, pipeline))  # the webhooks' final word first
    await pipeline.send(outcome(OutcomeStatus.SENT, False, pipeline))  # then the worker's, late
    for request_id in ("c2", "c3", "c4"):
        await pipeline.advance(pipeline.now + timedelta(hours=1))
        await pipeline.send(call(request_id, pipeline))

    first = {d.request_id: d.decision for d in reversed(pipeline.decisions(DEBTOR))}
    assert first == {
        "c1": DecisionKind.ALLOW,
        "c2": DecisionKind.ALLOW,
        "c3": DecisionKind.ALLOW,  # the busy call c1 is not one of the week's two
        "c4": DecisionKind.DEFER,
    }
