"""Provenance, the audit's second half: not only whether each contact kept the rules, but whether each record
came from where it may come from.

From the log's records as the broker holds them (topic, key, headers, value) it finds

- records of a type the topic catalog does not declare for their topic (a consent change or a contact
  request written to the account topic, say): they are left out of everything else the audit reads, and
  each is a violation;
- approvals whose gatekeeper signature does not verify for their topic and key (``services.core.signing``):
  they do not count as approvals, and each is a violation;
- approvals with no contact request behind them on the requests topic (every approval answers a request from
  escalation, or a reply the debtor asked for);
- escalations with legal effect (legal action, agency placement, field visit, restructuring offer) raised
  without the gatekeeper's allow for the request of the same id.

A send without a verified approval is then the audit's ``NO_APPROVAL``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from schemas import events as ev
from schemas.topics import REQUESTS, declared
from schemas.vocab import DecisionKind
from services.core.codec import Envelope, key_of
from services.core.signing import ApprovalVerifier, SignatureError

# The hand-offs with legal effect, which only the gatekeeper raises, after deciding them.
K = ev.EscalationKind
DECIDED_BY_THE_GATEKEEPER = frozenset({K.LEGAL, K.AGENCY_PLACEMENT, K.FIELD_VISIT, K.RESTRUCTURING_OFFER})


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One decoded record of the log, with what the broker holds of it."""

    topic: str  # the catalog's (logical) name
    physical_topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    envelope: Envelope[BaseModel]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    envelope: Envelope[BaseModel]
    detail: str


@dataclass
class Provenance:
    """What the log says about where its records came from."""

    findings: list[Finding] = field(default_factory=list)
    verified_approvals: set[str] = field(default_factory=set)  # request ids with a signed approval


def check(
    records: Iterable[LogRecord], verifier: ApprovalVerifier
) -> tuple[list[Envelope[BaseModel]], Provenance]:
    """The envelopes the rest of the audit may read (misrouted ones left out), and the findings."""
    result = Provenance()
    kept: list[Envelope[BaseModel]] = []
    approvals: list[Envelope[BaseModel]] = []
    requested: set[str] = set()
    allowed_escalations: set[str] = set()
    raised: list[Envelope[BaseModel]] = []
    for record in records:
        event = record.envelope.event
        if not declared(record.topic, event):
            detail = f"{type(event).__name__} on {record.topic}"
            result.findings.append(Finding("MISROUTED", record.envelope, detail))
            continue
        kept.append(record.envelope)
        if isinstance(event, ev.ContactRequested) and record.topic == REQUESTS:
            requested.add(event.request_id)
        match event:
            case ev.ComplianceDecision(decision=DecisionKind.ALLOW) if event.escalation is not None:
                allowed_escalations.add(event.request_id)
            case _:
                pass
        if isinstance(event, ev.EscalationRaised) and event.kind in DECIDED_BY_THE_GATEKEEPER:
            raised.append(record.envelope)
        if isinstance(event, ev.ContactApproved):
            try:
                verifier.verify(record.physical_topic, record.key, record.headers, record.value)
            except SignatureError as exc:
                result.findings.append(Finding("UNSIGNED_APPROVAL", record.envelope, str(exc)))
                continue
            result.verified_approvals.add(event.request_id)
            approvals.append(record.envelope)
    for envelope in approvals:
        approval = envelope.event
        assert isinstance(approval, ev.ContactApproved)
        if approval.request_id not in requested:
            detail = "no ContactRequested with its request id on the requests topic"
            result.findings.append(Finding("APPROVAL_WITHOUT_REQUEST", envelope, detail))
    for envelope in raised:
        escalation = envelope.event
        assert isinstance(escalation, ev.EscalationRaised)
        if escalation.escalation_id not in allowed_escalations:
            detail = f"{escalation.kind.value} raised without the gatekeeper's allow of its request"
            result.findings.append(Finding("ESCALATION_WITHOUT_ALLOW", envelope, detail))
    return kept, result


def subject(envelope: Envelope[BaseModel]) -> tuple[str, str, str, str]:
    """(debtor, request, account, channel) of an event, '-' for what it does not have."""
    event = envelope.event
    try:
        debtor = key_of(event)
    except TypeError:
        debtor = "-"
    channel = getattr(event, "channel", None)
    return (
        debtor,
        str(getattr(event, "request_id", "-")),
        str(getattr(event, "account_id", "-")),
        channel.value if channel is not None else "-",
    )
