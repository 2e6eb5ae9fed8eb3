"""The history command's story of one debtor: everything in time order, personal data masked."""

from __future__ import annotations

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus, ReasonCode
from services.reporting.history import history, scrub
from tests.unit.reporting.logbook import NY_PHONE, Logbook, utc

S = OutcomeStatus


def test_requests_decisions_sends_and_payments_in_order() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.overdue("d1", utc(2, 2))
    log.contact("d1", utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED), cost="0.0079")
    log.block("d1", utc(3, 14), Channel.VOICE, ReasonCode.QUIET_HOURS)
    log.consent("d1", utc(3, 15), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_OUT)
    log.payment("d1", utc(4, 16), "1000", after="0")
    log.profile("d2", utc(1, 12))
    log.contact("d2", utc(2, 15), Channel.EMAIL)
    shuffled = list(reversed(log.envelopes)) + log.envelopes[:3]

    entries = history(shuffled, "d1")

    assert [e.kind for e in entries] == [
        "profile",
        "overdue",
        "request",
        "decision",
        "approved",
        "outcome",
        "outcome",
        "decision",
        "consent",
        "payment",
    ]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    text = "\n".join(e.line() for e in entries)
    assert "sms allow reasons - packs BANK 2026.1, US 2026.1" in text
    assert "voice block reasons QUIET_HOURS" in text
    assert "sms sent (via twilio; cost 0.0079 USD)" in text
    assert "sms delivered" in text
    assert "paid 1000 USD, 0 USD outstanding after (paid in full)" in text
    assert "opt_out of sms on ***0100" in text
    assert "d2" not in text
    assert NY_PHONE not in text and "d1@example.com" not in text
    assert "d***@example.com" in text


def test_an_unknown_debtor_has_no_history() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    assert history(log.envelopes, "nobody") == []


def test_provider_messages_are_scrubbed() -> None:
    said = "The 'To' number +1 (212) 555-0100 is not valid; mail to alex.doe@example.com bounced"
    assert scrub(said) == "The 'To' number ***0100 is not valid; mail to a***@example.com bounced"
