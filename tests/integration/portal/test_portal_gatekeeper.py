""" "This is not me" downstream: the point is reported from the portal in a real browser, the gatekeeper on
the real broker blocks that point for the debtor from then on, even after a new profile snapshot, and still
approves the debtor's other point. Portal and gatekeeper share the stepped clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schemas import events as ev
from schemas.topics import CONSENT
from schemas.vocab import Channel, DecisionKind, ReasonCode
from services.core.clock import SharedClock
from tests.integration.gatekeeper.conftest import START, Harness, gk, profile, request
from tests.integration.portal.conftest import Portals, link
from tests.support import Tail

__all__ = ["gk"]  # the gatekeeper harness's fixture, used here


async def test_a_wrong_party_point_is_never_used_again_and_the_other_point_still_works(
    gk: Harness, portals: Portals, page: Any
) -> None:
    await gk.send(profile("d1", ["US"]))
    running = await portals.start(clock=SharedClock(gk.clock_file))
    email = "d1@example.com"
    await page.goto(link(running.base, "d1", email, START))
    await page.click("form#not-me button")
    assert await page.query_selector("#done") is not None
    async with Tail(gk.settings, CONSENT) as tail:
        await tail.wait_for(lambda: bool(tail.of(ev.WrongPartyReported)))
    await gk.stepper.wait_idle()
    await gk.send(profile("d1", ["US"]))  # a later snapshot from core banking still lists the address
    noon = START + timedelta(hours=14)  # 12:00 in New York
    await gk.at(noon)
    await gk.send(
        request("d1", "by-email", Channel.EMAIL),
        request("d1", "by-sms", Channel.SMS),
    )
    await gk.tail.wait_for(lambda: bool(gk.decisions("by-email")) and bool(gk.decisions("by-sms")))
    (blocked,) = gk.decisions("by-email")
    assert (blocked.decision, blocked.reasons) == (DecisionKind.BLOCK, [ReasonCode.WRONG_PARTY])
    assert gk.approvals("by-email") == []
    assert gk.decisions("by-sms")[0].decision is DecisionKind.ALLOW
    assert len(gk.approvals("by-sms")) == 1
