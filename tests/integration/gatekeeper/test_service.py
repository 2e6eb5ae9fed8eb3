"""The gatekeeper service on the real broker, on the stepped shared clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode
from tests.integration.gatekeeper.conftest import NY_PHONE, START, Harness, profile, request


@asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield


async def test_request_at_22_is_deferred_to_08_and_approved_at_the_first_reading(gk: Harness) -> None:
    await gk.send(profile("d1", ["US"]))
    await gk.send(request("d1", "r1"))
    [decision] = gk.decisions("r1")
    assert decision.decision is DecisionKind.DEFER
    assert decision.reasons == [ReasonCode.QUIET_HOURS]
    eight_am = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert decision.not_before == eight_am
    assert decision.pack_versions.keys() == {"BANK", "US"}

    await gk.at(eight_am - timedelta(seconds=1))
    assert gk.approvals("r1") == []
    await gk.at(eight_am)
    [approval] = gk.approvals("r1")
    assert approval.approved_at == eight_am
    assert approval.valid_until == datetime(2026, 6, 11, 1, 0, tzinfo=UTC)  # 21:00 EDT
    assert approval.destination == NY_PHONE
    assert [d.decision for d in gk.decisions("r1")] == [DecisionKind.DEFER, DecisionKind.ALLOW]


async def test_eighth_call_in_seven_days_is_deferred(gk: Harness) -> None:
    await gk.send(profile("d2", ["US"]))
    monday = datetime(2026, 6, 8, 14, 0, tzinfo=UTC)  # 10:00 EDT
    await gk.at(monday)
    await gk.send(*(request("d2", f"c{i}", Channel.VOICE) for i in range(1, 4)))
    await gk.at(monday + timedelta(days=1))
    await gk.send(*(request("d2", f"c{i}", Channel.VOICE) for i in range(4, 7)))
    await gk.at(monday + timedelta(days=2))
    await gk.send(request("d2", "c7", Channel.VOICE))
    await gk.send(request("d2", "c8", Channel.VOICE))
    assert all(len(gk.approvals(f"c{i}")) == 1 for i in range(1, 8))
    [eighth] = gk.decisions("c8")
    assert eighth.decision is DecisionKind.DEFER
    assert eighth.reasons == [ReasonCode.FREQUENCY_CAP]
    # Monday's calls leave the 7-local-day window on the following Monday, 15 June, at 08:00 EDT.
    assert eighth.not_before == datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


async def test_request_that_overtakes_its_profile_is_held_until_the_profile_arrives(gk: Harness) -> None:
    at_ten = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    await gk.at(at_ten)
    await gk.send(request("d0", "early"))
    [held] = gk.decisions("early")
    assert (held.decision, held.reasons) == (DecisionKind.DEFER, [ReasonCode.PROFILE_MISSING])
    await gk.send(profile("d0", ["US"]))
    assert [d.decision for d in gk.decisions("early")] == [DecisionKind.DEFER, DecisionKind.ALLOW]
    assert len(gk.approvals("early")) == 1


async def test_opt_out_cancellation_and_payment_block_deferred_requests(gk: Harness) -> None:
    await gk.send(profile("d3", ["US"]))
    await gk.send(
        request("d3", "s1"),
        request("d3", "e1", Channel.EMAIL),
        request("d3", "v1", Channel.VOICE, account="a2"),
    )
    assert {gk.decisions(r)[0].decision for r in ("s1", "e1", "v1")} == {DecisionKind.DEFER}
    now = START + timedelta(minutes=5)
    await gk.at(now)
    await gk.send(
        ev.ConsentChanged(
            debtor_id="d3",
            address=NY_PHONE,
            channel=Channel.SMS,
            change=ev.ConsentChange.OPT_OUT,
            source=ev.ConsentSource.SMS_REPLY,
            occurred_at=now,
        )
    )
    assert gk.decisions("s1")[-1].reasons == [ReasonCode.OPTED_OUT]
    await gk.send(
        ev.ContactCancelled(
            debtor_id="d3",
            account_id="a1",
            request_ids=["e1"],
            reason=ev.CancelReason.PROMISE_TO_PAY,
            cancelled_at=now,
        )
    )
    assert gk.decisions("e1")[-1].reasons == [ReasonCode.CANCELLED]
    await gk.send(
        ev.PaymentPosted(
            debtor_id="d3",
            account_id="a2",
            payment_id="p1",
            currency="USD",
            amount=100,
            outstanding_after=0,
            posted_at=now,
        )
    )  # type: ignore[arg-type]
    assert gk.decisions("v1")[-1].reasons == [ReasonCode.PAID]
    for rid in ("s1", "e1", "v1"):
        assert gk.decisions(rid)[-1].decision is DecisionKind.BLOCK
        finals = [o for o in gk.tail.of(ev.ContactOutcome) if o.request_id == rid]
        assert [(o.status, o.final) for o in finals] == [(OutcomeStatus.BLOCKED, True)]
    await gk.at(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))
    assert not any(gk.approvals(r) for r in ("s1", "e1", "v1"))


async def test_restart_loses_no_deferred_request(gk: Harness) -> None:
    await gk.send(profile("d4", ["US"]))
    await gk.send(request("d4", "k1"), request("d4", "k2", Channel.EMAIL))
    assert [gk.decisions(r)[0].decision for r in ("k1", "k2")] == [DecisionKind.DEFER] * 2
    await gk.stop()
    await gk.start()
    await gk.at(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))
    assert len(gk.approvals("k1")) == 1
    assert len(gk.approvals("k2")) == 1


async def test_a_duplicated_request_id_is_decided_once(gk: Harness) -> None:
    at_ten = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    await gk.at(at_ten)
    await gk.send(profile("d5", ["US"]))
    await gk.send(request("d5", "dup"), request("d5", "dup"), ids=["ce-a", "ce-b"])
    await gk.send(request("d5", "dup"), ids=["ce-c"])
    assert len(gk.decisions("dup")) == 1
    assert len(gk.approvals("dup")) == 1


async def test_pause_defers_and_resume_releases(gk: Harness) -> None:
    at_ten = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    await gk.at(at_ten)
    await gk.send(profile("d6", ["US"]))
    await gk.send(
        ev.OutreachControlChanged(
            scope=ev.ControlScope.CHANNEL, value="sms", paused=True, operator="ops", at=at_ten
        )
    )
    await asyncio.sleep(0.5)  # the control follower reads the control topic outside the consumer group
    await gk.send(request("d6", "p1"), request("d6", "p2", Channel.EMAIL))
    [paused] = gk.decisions("p1")
    assert paused.decision is DecisionKind.DEFER
    assert paused.reasons == [ReasonCode.PAUSED]
    assert len(gk.approvals("p2")) == 1  # another channel is not paused
    await gk.send(
        ev.OutreachControlChanged(
            scope=ev.ControlScope.CHANNEL, value="sms", paused=False, operator="ops", at=at_ten
        )
    )
    await gk.tail.wait_for(lambda: len(gk.approvals("p1")) == 1)
    assert [d.decision for d in gk.decisions("p1")] == [DecisionKind.DEFER, DecisionKind.ALLOW]
