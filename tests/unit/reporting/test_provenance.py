"""The audit's provenance checks over records as the broker holds them: a misrouted record is reported and
left out, an approval counts only with the gatekeeper's signature for its topic and key, and every approval
answers a request."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from schemas import events as ev
from schemas.topics import ACCOUNT, topic_for
from schemas.vocab import Channel
from services.core import codec, signing
from services.reporting import provenance
from services.reporting.audit import audit
from tests.unit.reporting.logbook import Logbook, utc
from tests.unit.reporting.test_audit import clean_log

PRIVATE, PUBLIC = signing.generate()
GATEKEEPER = signing.ApprovalSigner(SecretStr(PRIVATE))
VERIFIER = signing.ApprovalVerifier([PUBLIC])


def as_records(
    log: Logbook,
    topic_of: Callable[[object], str] = topic_for,
    signer: Callable[[ev.ContactApproved], signing.ApprovalSigner | None] = lambda _: GATEKEEPER,
) -> list[provenance.LogRecord]:
    records = []
    for envelope in log.envelopes:
        enc = codec.encode(envelope.event, source="/tests", time=envelope.time, id=envelope.id)
        topic = topic_of(envelope.event)
        headers = list(enc.headers)
        if isinstance(envelope.event, ev.ContactApproved) and (by := signer(envelope.event)) is not None:
            headers += by.sign(topic, enc.key, enc.headers, enc.value)
        decoded = codec.decode(enc.key, enc.value, headers)
        records.append(provenance.LogRecord(topic, topic, enc.key, enc.value, headers, decoded))
    return records


def violations(records: list[provenance.LogRecord]) -> list[tuple[str, str]]:
    kept, found = provenance.check(records, VERIFIER)
    return sorted((v.rule, v.request_id) for v in audit(kept, found).violations)


def test_a_signed_log_is_clean() -> None:
    assert violations(as_records(clean_log())) == []


def test_an_unsigned_or_foreign_approval_does_not_count_and_its_send_is_unapproved() -> None:
    log = clean_log()
    forged = log.contact("d1", utc(9, 15), Channel.SMS)
    stranger = signing.ApprovalSigner(SecretStr(signing.generate()[0]))
    records = as_records(log, signer=lambda a: stranger if a.request_id == forged else GATEKEEPER)
    assert violations(records) == [("NO_APPROVAL", forged), ("UNSIGNED_APPROVAL", forged)]
    unsigned = as_records(log, signer=lambda a: None if a.request_id == forged else GATEKEEPER)
    assert violations(unsigned) == [("NO_APPROVAL", forged), ("UNSIGNED_APPROVAL", forged)]


def test_an_approval_must_answer_a_request_on_the_requests_topic() -> None:
    log = clean_log()
    orphan = log.contact("d1", utc(9, 15), Channel.SMS)
    log.envelopes = [
        e
        for e in log.envelopes
        if not (isinstance(e.event, ev.ContactRequested) and e.event.request_id == orphan)
    ]
    assert violations(as_records(log)) == [("APPROVAL_WITHOUT_REQUEST", orphan)]


def test_a_record_on_a_topic_not_declared_for_it_is_reported_and_not_believed() -> None:
    log = clean_log()
    log.consent("d1", utc(9, 15), "+12125550100", Channel.SMS, ev.ConsentChange.OPT_OUT)
    late = log.contact("d1", utc(9, 16), Channel.SMS)  # after the STOP: a violation the audit must find
    log.consent("d1", utc(9, 15, 30), "+12125550100", Channel.SMS, ev.ConsentChange.OPT_IN)
    forged_opt_in = log.envelopes[-1]
    records = as_records(log, topic_of=lambda e: ACCOUNT if e is forged_opt_in.event else topic_for(e))
    found = violations(records)
    assert ("MISROUTED", "-") in found
    # The misrouted opt-in is not believed: the send after the STOP is reported. Believed, it would hide it.
    assert ("AFTER_STOP", late) in found
    believed = audit([record.envelope for record in records]).violations
    assert not any(v.rule == "AFTER_STOP" for v in believed)


def test_an_escalation_with_legal_effect_needs_the_gatekeepers_allow() -> None:
    from datetime import timedelta
    from decimal import Decimal

    from schemas.vocab import DecisionKind

    log = clean_log()
    at = utc(10, 15)

    def raised(rid: str, kind: ev.EscalationKind) -> ev.EscalationRaised:
        return ev.EscalationRaised(
            debtor_id="d1",
            escalation_id=rid,
            account_id="a1",
            kind=kind,
            reason="days past due >= 90",
            days_past_due=90,
            currency="USD",
            total_outstanding=Decimal("2400.00"),
            raised_at=at,
        )

    allow = ev.ComplianceDecision(
        debtor_id="d1",
        decision_id="dec-e-ok",
        request_id="e-ok",
        account_id="a1",
        escalation=ev.EscalationKind.LEGAL,
        decision=DecisionKind.ALLOW,
        decided_at=at,
    )
    log.add(allow, at)
    log.add(raised("e-ok", ev.EscalationKind.LEGAL), at + timedelta(seconds=1))
    log.add(raised("e-alone", ev.EscalationKind.AGENCY_PLACEMENT), at)
    log.add(raised("e-review", ev.EscalationKind.BANKRUPTCY_REVIEW), at)  # raised by escalation itself
    _, found = provenance.check(as_records(log), VERIFIER)
    assert [(f.rule, f.envelope.event.escalation_id) for f in found.findings] == [  # type: ignore[attr-defined]
        ("ESCALATION_WITHOUT_ALLOW", "e-alone")
    ]
