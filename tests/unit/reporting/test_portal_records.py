"""The portal's records in the audit and the debtor's history: its promises (account topic) and wrong-party
reports (consent topic) are where the catalog says they may be, a contact approved after a wrong-party report
on its destination is a violation, and the history tells the report masked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from schemas import events as ev
from schemas.topics import ACCOUNT, topic_for
from schemas.vocab import Channel
from services.reporting.audit import audit
from services.reporting.history import history
from tests.unit.reporting.logbook import Logbook, utc
from tests.unit.reporting.test_provenance import as_records, violations

PHONE = "+12125550100"


def portal_log() -> Logbook:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.overdue("d1", utc(2, 2))
    log.contact("d1", utc(2, 15), Channel.SMS, destination=PHONE)
    promise = ev.PromiseToPayRecorded(
        debtor_id="d1",
        account_id="a1",
        promise_id="web-1",
        currency="USD",
        amount=Decimal("50.00"),
        promised_date=date(2026, 6, 9),
        source=ev.PromiseSource.WEB,
        recorded_at=utc(2, 16),
    )
    log.add(promise, utc(2, 16))
    report = ev.WrongPartyReported(
        debtor_id="d1", address=PHONE, source=ev.WrongPartySource.PORTAL, reported_at=utc(3, 10)
    )
    log.add(report, utc(3, 10))
    return log


def test_the_portals_records_are_where_the_catalog_puts_them() -> None:
    assert violations(as_records(portal_log())) == []


def test_a_wrong_party_report_on_the_account_topic_is_misrouted() -> None:
    log = portal_log()
    report = log.envelopes[-1].event
    assert isinstance(report, ev.WrongPartyReported)
    records = as_records(log, topic_of=lambda e: ACCOUNT if e is report else topic_for(e))
    assert ("MISROUTED", "-") in violations(records)


def test_a_contact_approved_after_a_wrong_party_report_on_its_destination_is_a_violation() -> None:
    log = portal_log()
    late = log.contact("d1", utc(4, 15), Channel.SMS, destination=PHONE)
    found = [(v.rule, v.request_id, v.detail) for v in audit(log.envelopes).violations]
    assert found == [("AFTER_STOP", late, "approved after a wrong-party report on the destination")]


def test_the_debtors_history_tells_the_wrong_party_report_masked() -> None:
    entries = history(portal_log().envelopes, "d1")
    (report,) = [e for e in entries if e.kind == "wrong party"]
    assert report.text == "***0100 is not the debtor's (via portal)"
    assert PHONE not in "\n".join(e.line() for e in entries)
    assert any(e.kind == "promise" and "web" in e.text for e in entries)
