""" "This is not me": the reported contact point is never used again for the debtor, whatever later profiles
say, while the debtor's other points still work."""

from __future__ import annotations

from datetime import timedelta

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, ReasonCode
from tests.unit.gatekeeper.test_service_handler import NIGHT, NOON, PHONE, Harness, profile, request

OTHER = "+12125550199"


def points() -> list[dict[str, object]]:
    return [
        {"type": "phone", "address": PHONE, "consents": ["sms", "voice"]},
        {"type": "phone", "address": OTHER, "consents": ["sms"]},
    ]


def not_me(address: str = PHONE) -> ev.WrongPartyReported:
    return ev.WrongPartyReported(
        debtor_id="d1", address=address, source=ev.WrongPartySource.PORTAL, reported_at=NOON
    )


def test_a_wrong_party_point_is_blocked_for_good_and_the_other_points_still_work() -> None:
    gk = Harness()
    gk.feed(profile(contact_points=points()), NOON)
    gk.feed(not_me(), NOON)
    gk.feed(profile(contact_points=points()), NOON + timedelta(minutes=1))  # a later snapshot still lists it
    gk.feed(request("sms"), NOON + timedelta(minutes=2))
    gk.feed(request("voice", channel=Channel.VOICE), NOON + timedelta(minutes=2))
    gk.feed(request("other", destination=OTHER), NOON + timedelta(minutes=2))
    assert gk.decisions("sms")[0].reasons == [ReasonCode.WRONG_PARTY]
    assert gk.decisions("voice")[0].reasons == [ReasonCode.WRONG_PARTY]
    assert gk.decisions("other")[0].decision is DecisionKind.ALLOW
    assert [a.destination for a in gk.approvals()] == [OTHER]


def test_a_request_deferred_to_that_point_is_blocked_when_the_report_arrives() -> None:
    gk = Harness()
    gk.feed(profile(contact_points=points()), NIGHT)
    gk.feed(request("night"), NIGHT)
    assert gk.decisions("night")[0].decision is DecisionKind.DEFER
    gk.feed(not_me(), NIGHT + timedelta(minutes=1))
    assert gk.decisions("night")[-1].decision is DecisionKind.BLOCK
    assert gk.decisions("night")[-1].reasons == [ReasonCode.WRONG_PARTY]


def test_reporting_the_same_point_twice_is_one_entry() -> None:
    gk = Harness()
    gk.feed(profile(contact_points=points()), NOON)
    gk.feed(not_me(), NOON)
    gk.feed(not_me(), NOON)
    assert gk.state is not None and gk.state.wrong_party == [PHONE]
