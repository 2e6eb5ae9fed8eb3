"""Escalation after "this is not me": the reported point is no longer chosen for the debtor (an opt-in on it
does not bring it back), and the next steps go to the debtor's other points."""

from __future__ import annotations

from schemas import events as ev
from schemas.vocab import Channel
from tests.unit.escalation.test_case import World, at_day


def test_a_wrong_party_point_is_never_chosen_again() -> None:
    world = World()
    world.nights(1, 1)
    world.replay.run_until(at_day(1, 14))
    [sms] = world.requests()
    report = ev.WrongPartyReported(
        debtor_id="d1", address=sms.destination, source=ev.WrongPartySource.PORTAL, reported_at=at_day(1, 14)
    )
    world.send(report, at_day(1, 14))
    opt_in = ev.ConsentChanged(
        debtor_id="d1",
        address=sms.destination,
        channel=Channel.SMS,
        change=ev.ConsentChange.OPT_IN,
        source=ev.ConsentSource.SMS_REPLY,
        occurred_at=at_day(1, 15),
    )
    world.send(opt_in, at_day(1, 15))
    world.nights(2, 20)
    world.replay.run_until(at_day(20, 20))
    later = world.requests()[1:]
    assert later, "the ladder goes on on the other points"
    assert all(r.destination != sms.destination for r in later)
    assert {r.channel for r in later} == {Channel.EMAIL}
