"""Which event travels on which topic: the logical half of the topic catalog.

Operational settings (partitions, retention, compaction, size limits) live in ``deploy/topics.toml``;
a test keeps the two in step. Deployments may prefix every name (``COLLECTIONS_TOPIC_PREFIX``) so that
tests and tenants share one broker without sharing topics.
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel

ACCOUNT = "collections.account.v1"
REQUESTS = "collections.contact.requests.v1"
DECISIONS = "collections.compliance.decisions.v1"
OUTCOMES = "collections.contact.outcomes.v1"
CONSENT = "collections.consent.v1"
ESCALATIONS = "collections.escalations.v1"
CONTROL = "collections.control.v1"
DEADLETTER = "collections.deadletter.v1"
DISPATCH = {channel: f"collections.dispatch.{channel.value}.v1" for channel in Channel}
# Changelogs: compacted, partition-local state of the stateful services, never read by other services.
GATEKEEPER_STATE = "collections.gatekeeper.state.v1"
ESCALATION_STATE = "collections.escalation.state.v1"
SENDER_LEDGER = "collections.sender.ledger.v1"
# Per loan, beside the bank's Fineract topic (at the same partition numbers): what the adapter learned, and
# the records it holds until it does.
FINERACT_STATE = "collections.fineract.state.v1"
CHANGELOGS = (GATEKEEPER_STATE, ESCALATION_STATE, SENDER_LEDGER, FINERACT_STATE)

TOPIC_EVENTS: dict[str, tuple[type[BaseModel], ...]] = {
    ACCOUNT: (
        ev.AccountOverdue,
        ev.PaymentPosted,
        ev.PaymentReversed,
        ev.PromiseToPayRecorded,
        ev.AccountStatusChanged,
        ev.DebtorProfileUpdated,
    ),
    REQUESTS: (ev.ContactRequested, ev.ContactCancelled, ev.EscalationRequested),
    **dict.fromkeys(DISPATCH.values(), (ev.ContactApproved,)),
    DECISIONS: (ev.ComplianceDecision,),
    OUTCOMES: (ev.ContactOutcome,),
    CONSENT: (ev.ConsentChanged, ev.WrongPartyReported),
    ESCALATIONS: (ev.EscalationRaised,),
    CONTROL: (ev.OutreachControlChanged,),
    DEADLETTER: (ev.DeadLetter,),
}


def declared(topic: str, event: BaseModel) -> bool:
    """Whether ``event`` may travel on the logical ``topic`` (an approval only on its channel's topic)."""
    if type(event) not in TOPIC_EVENTS.get(topic, ()):
        return False
    return not isinstance(event, ev.ContactApproved) or DISPATCH[event.channel] == topic


def topic_for(event: BaseModel) -> str:
    """The logical topic an event is published to (approvals go to their channel's dispatch topic)."""
    if isinstance(event, ev.ContactApproved):
        return DISPATCH[event.channel]
    return _HOME[type(event)]


_HOME: dict[type[BaseModel], str] = {
    model: topic
    for topic, models in TOPIC_EVENTS.items()
    for model in models
    if model is not ev.ContactApproved
}
