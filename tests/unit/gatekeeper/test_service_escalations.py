"""The gatekeeper service's handler, pure, as the door for escalations and third parties: an escalation is
decided with the engine and raised only when allowed, a deferred one is decided again when due, and what the
ledger keeps (relation, template tags, allowed escalations) is what the rules read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode, Relation
from services.core import codec
from services.core.runtime.handler import Output
from services.core.settings import DEPLOY_DIR
from services.gatekeeper.policy import PolicyBook
from services.gatekeeper.service import Gatekeeper
from services.gatekeeper.state import GatekeeperState
from services.messaging.templates import Catalog

EU_NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # 12:00 in Dublin, a Wednesday; the EU pack is in force
CN_MORNING = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a working Wednesday
US_NOON = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)


class Harness:
    def __init__(self) -> None:
        self.handler = Gatekeeper(
            PolicyBook.load(DEPLOY_DIR / "policies"),
            lambda _: False,
            Catalog.load(DEPLOY_DIR / "templates").tags,
        )
        self.state: GatekeeperState | None = None
        self.out: list[Output] = []

    def feed(self, event: BaseModel, at: datetime) -> None:
        enc = codec.encode(event, source="/t", time=at)
        result = self.handler.apply("d1", self.state, codec.decode(enc.key, enc.value, enc.headers), at)
        self.state, self.out = result.state, self.out + result.outputs

    def due(self, at: datetime) -> None:
        assert self.state is not None
        result = self.handler.due("d1", self.state, at)
        self.state, self.out = result.state, self.out + result.outputs

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [o.event for o in self.out if isinstance(o.event, kind)]

    def decisions(self, rid: str) -> list[ev.ComplianceDecision]:
        return [d for d in self.of(ev.ComplianceDecision) if d.request_id == rid]


def profile(
    jurisdictions: list[str], zone: str, points: list[dict[str, object]], **extra: object
) -> BaseModel:
    fields = {"debtor_id": "d1", "timezone": zone, "jurisdictions": jurisdictions, "contact_points": points}
    return ev.DebtorProfileUpdated.model_validate(fields | extra)


US_POINTS: list[dict[str, object]] = [
    {"type": "phone", "address": "+12125550100", "consents": ["sms", "voice"]}
]
EU_POINTS: list[dict[str, object]] = [
    {"type": "email", "address": "d1@example.ie", "consents": ["email"]},
    {"type": "phone", "address": "+353861234567", "consents": ["sms", "voice"]},
]
CN_SELF, CN_FRIEND = "+8613800138000", "+8613900139000"
CN_POINTS: list[dict[str, object]] = [
    {"type": "phone", "address": CN_SELF, "consents": ["sms", "voice"]},
    {"type": "phone", "address": CN_FRIEND, "consents": ["sms"], "relation": "emergency_contact"},
]


def escalation(rid: str, kind: ev.EscalationKind, at: datetime) -> ev.EscalationRequested:
    return ev.EscalationRequested(
        debtor_id="d1",
        request_id=rid,
        account_id="a1",
        kind=kind,
        reason="days past due >= 90",
        days_past_due=90,
        currency="EUR",
        total_outstanding=Decimal("2400.00"),
        strategy="standard",
        arm="champion",
        requested_at=at,
    )


def contact(rid: str, channel: Channel, to: str, template: str, at: datetime) -> ev.ContactRequested:
    return ev.ContactRequested(
        debtor_id="d1",
        request_id=rid,
        account_id="a1",
        channel=channel,
        destination=to,
        template=template,
        strategy="standard",
        strategy_version="1",
        arm="champion",
        requested_at=at,
    )


def outcome(rid: str, channel: Channel, status: OutcomeStatus, at: datetime) -> ev.ContactOutcome:
    return ev.ContactOutcome(
        debtor_id="d1",
        outcome_id=f"{rid}-{status}",
        request_id=rid,
        account_id="a1",
        channel=channel,
        status=status,
        final=True,
        occurred_at=at,
    )


def test_an_allowed_escalation_is_decided_then_raised_with_its_id() -> None:
    gk = Harness()
    gk.feed(profile(["US"], "America/New_York", US_POINTS), US_NOON)
    gk.feed(escalation("e-legal", ev.EscalationKind.LEGAL, US_NOON), US_NOON)
    [decision] = gk.decisions("e-legal")
    assert (decision.decision, decision.channel, decision.escalation) == (
        DecisionKind.ALLOW,
        None,
        ev.EscalationKind.LEGAL,
    )
    [raised] = gk.of(ev.EscalationRaised)
    assert (raised.escalation_id, raised.kind, raised.raised_at) == (
        "e-legal",
        ev.EscalationKind.LEGAL,
        US_NOON,
    )
    gk.feed(escalation("e-legal", ev.EscalationKind.LEGAL, US_NOON), US_NOON)  # redelivered: decided once
    assert len(gk.decisions("e-legal")) == 1 and len(gk.of(ev.EscalationRaised)) == 1


def test_which_hard_stops_bar_which_escalation() -> None:
    gk = Harness()
    gk.feed(profile(["US"], "America/New_York", US_POINTS, flags=["cease_communication"]), US_NOON)
    gk.feed(escalation("legal", ev.EscalationKind.LEGAL, US_NOON), US_NOON)
    gk.feed(escalation("visit", ev.EscalationKind.FIELD_VISIT, US_NOON), US_NOON)
    gk.feed(
        profile(["US"], "America/New_York", US_POINTS, flags=["attorney"]), US_NOON + timedelta(minutes=1)
    )
    gk.feed(escalation("agency", ev.EscalationKind.AGENCY_PLACEMENT, US_NOON), US_NOON + timedelta(minutes=1))
    gk.feed(
        escalation("offer", ev.EscalationKind.RESTRUCTURING_OFFER, US_NOON), US_NOON + timedelta(minutes=1)
    )
    got = {
        rid: (gk.decisions(rid)[0].decision, gk.decisions(rid)[0].reasons)
        for rid in ("legal", "visit", "agency", "offer")
    }
    assert got == {
        "legal": (DecisionKind.ALLOW, []),  # a cease-communication request does not bar legal remedies
        "visit": (DecisionKind.BLOCK, [ReasonCode.CEASE_COMMUNICATION]),  # a visit is a contact
        "agency": (DecisionKind.BLOCK, [ReasonCode.ATTORNEY]),
        "offer": (DecisionKind.ALLOW, []),  # never blocked
    }
    assert sorted(r.escalation_id for r in gk.of(ev.EscalationRaised)) == ["legal", "offer"]


def test_eu_enforcement_waits_14_days_after_the_forbearance_offer_reached_the_debtor() -> None:
    gk = Harness()
    gk.feed(profile(["EU"], "Europe/Dublin", EU_POINTS), EU_NOON)
    gk.feed(escalation("legal-1", ev.EscalationKind.LEGAL, EU_NOON), EU_NOON)
    assert gk.decisions("legal-1")[0].reasons == [ReasonCode.FORBEARANCE_REQUIRED]
    assert gk.of(ev.EscalationRaised) == []
    # The offer: an email tagged forbearance_offer in the template catalog, delivered.
    gk.feed(contact("offer", Channel.EMAIL, "d1@example.ie", "restructuring_offer", EU_NOON), EU_NOON)
    assert gk.decisions("offer")[0].decision is DecisionKind.ALLOW
    gk.feed(outcome("offer", Channel.EMAIL, OutcomeStatus.DELIVERED, EU_NOON + timedelta(minutes=1)), EU_NOON)
    later = EU_NOON + timedelta(hours=2)
    gk.feed(escalation("legal-2", ev.EscalationKind.LEGAL, later), later)
    [deferred] = gk.decisions("legal-2")
    ready = EU_NOON + timedelta(days=14)  # 14 x 24 hours after the offer was approved
    assert (deferred.decision, deferred.reasons, deferred.not_before) == (
        DecisionKind.DEFER,
        [ReasonCode.FORBEARANCE_REQUIRED],
        ready,
    )
    assert gk.state is not None and gk.state.next_due() == ready
    gk.due(ready)
    assert gk.decisions("legal-2")[-1].decision is DecisionKind.ALLOW
    assert [r.escalation_id for r in gk.of(ev.EscalationRaised)] == ["legal-2"]


def test_an_eu_reminder_without_the_debt_advice_referral_is_blocked() -> None:
    gk = Harness()
    gk.feed(profile(["EU"], "Europe/Dublin", EU_POINTS), EU_NOON)
    gk.feed(contact("plain", Channel.EMAIL, "d1@example.ie", "payment_link", EU_NOON), EU_NOON)
    gk.feed(contact("tagged", Channel.EMAIL, "d1@example.ie", "reminder", EU_NOON), EU_NOON)
    assert gk.decisions("plain")[0].reasons == [ReasonCode.DEBT_ADVICE_REQUIRED]
    assert gk.decisions("tagged")[0].decision is DecisionKind.ALLOW


def test_a_cn_emergency_contact_only_after_three_unanswered_calls_and_only_with_limited_content() -> None:
    gk = Harness()
    gk.feed(profile(["CN"], "Asia/Shanghai", CN_POINTS), CN_MORNING)
    assert gk.state is not None and gk.state.relation(CN_FRIEND) is Relation.EMERGENCY_CONTACT
    gk.feed(contact("early", Channel.SMS, CN_FRIEND, "callback_request", CN_MORNING), CN_MORNING)
    assert gk.decisions("early")[0].reasons == [ReasonCode.THIRD_PARTY_NOT_ALLOWED]
    at = CN_MORNING
    for n in range(3):
        at = CN_MORNING + timedelta(minutes=10 * n)
        gk.feed(contact(f"call-{n}", Channel.VOICE, CN_SELF, "call", at), at)
        assert gk.decisions(f"call-{n}")[0].decision is DecisionKind.ALLOW
        gk.feed(outcome(f"call-{n}", Channel.VOICE, OutcomeStatus.NO_ANSWER, at + timedelta(minutes=1)), at)
    later = at + timedelta(minutes=5)
    gk.feed(contact("friend", Channel.SMS, CN_FRIEND, "callback_request", later), later)
    gk.feed(contact("telling", Channel.SMS, CN_FRIEND, "reminder", later), later)
    assert gk.decisions("friend")[0].decision is DecisionKind.ALLOW
    assert gk.decisions("telling")[0].reasons == [ReasonCode.THIRD_PARTY_DISCLOSURE]
    assert gk.state is not None
    [entry] = [e for e in gk.state.ledger if e.request_id == "friend"]
    assert entry.relation is Relation.EMERGENCY_CONTACT


def test_a_third_party_outside_china_is_never_contacted() -> None:
    gk = Harness()
    points = [
        *US_POINTS,
        {"type": "phone", "address": "+12125550199", "consents": ["sms"], "relation": "other"},
    ]
    gk.feed(profile(["US"], "America/New_York", points), US_NOON)
    gk.feed(contact("other", Channel.SMS, "+12125550199", "callback_request", US_NOON), US_NOON)
    assert gk.decisions("other")[0].reasons == [ReasonCode.THIRD_PARTY_NOT_ALLOWED]
