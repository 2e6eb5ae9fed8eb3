"""The independent audit finds what a test plants in an event log, and nothing in a clean one."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus, RequestKind
from services.reporting.audit import audit
from tests.unit.reporting.logbook import BOSTON_PHONE, LA_PHONE, NY_PHONE, Logbook, utc

S = OutcomeStatus


def clean_log() -> Logbook:
    """A month of lawful outreach to a New York debtor: one SMS, email and call a day, at 10:00 local."""
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.overdue("d1", utc(2, 2))
    for day in range(2, 9):
        log.contact("d1", utc(day, 14), Channel.EMAIL)
        log.contact("d1", utc(day, 14, 30), Channel.VOICE, (S.SENT, S.NO_ANSWER))
    for day in (2, 4, 6):
        log.contact("d1", utc(day, 15), Channel.SMS, (S.SENT, S.DELIVERED), cost="0.0079")
    log.payment("d1", utc(9, 16), "1000", after="0")
    return log


def rules(log: Logbook) -> list[str]:
    return [v.rule for v in audit(log.envelopes).violations]


def test_a_clean_log_has_no_violations() -> None:
    result = audit(clean_log().envelopes)
    assert result.violations == []
    assert result.sends == 7 + 7 + 3


def test_a_contact_at_23_local_is_found() -> None:
    log = clean_log()
    planted = log.contact("d1", utc(10, 3), Channel.SMS, (S.SENT, S.DELIVERED), account="a2")
    violations = audit(log.envelopes).violations
    assert [(v.rule, v.request_id) for v in violations] == [("QUIET_HOURS", planted)]
    assert "23:00 in America/New_York" in violations[0].detail
    assert violations[0].destination == "***0100"
    assert NY_PHONE not in violations[0].line()


def test_hours_hold_in_every_zone_of_the_debtor() -> None:
    """08:30 in New York is 05:30 on the debtor's Los Angeles phone."""
    log = Logbook()
    log.profile("d1", utc(1, 12), phones=(NY_PHONE, LA_PHONE))
    log.contact("d1", utc(2, 12, 30), Channel.EMAIL)
    violations = audit(log.envelopes).violations
    assert [v.rule for v in violations] == ["QUIET_HOURS"]
    assert "America/Los_Angeles" in violations[0].detail
    assert "America/New_York" not in violations[0].detail


def test_21_00_is_outside_and_20_59_inside() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 0, 59), Channel.EMAIL, sent_after=timedelta(0))
    assert rules(log) == []
    log.contact("d1", utc(3, 1, 0), Channel.EMAIL, sent_after=timedelta(0))
    assert rules(log) == ["QUIET_HOURS"]


def test_the_time_of_the_first_acceptance_counts_not_a_late_callback() -> None:
    """Sent at 20:59:00, delivered at 21:00:30: the send happened inside the hours."""
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 0, 58), Channel.SMS, (S.SENT, S.DELIVERED), sent_after=timedelta(seconds=60))
    assert rules(log) == []


def test_a_reply_the_debtor_asked_for_may_go_at_night() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 3), Channel.SMS, kind=RequestKind.REPLY)
    assert rules(log) == []


def test_a_reply_neither_breaks_nor_fills_a_cap() -> None:
    """The payment link asked for on the voice menu goes on the day of the SMS reminder: no violation."""
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED))
    log.contact("d1", utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED), kind=RequestKind.REPLY)
    log.contact("d1", utc(2, 15), Channel.SMS, (S.SENT, S.DELIVERED), kind=RequestKind.REPLY)
    assert rules(log) == []
    log.contact("d1", utc(2, 16), Channel.SMS, (S.SENT, S.DELIVERED))
    assert rules(log) == ["FREQUENCY_CAP"]


def test_a_send_without_a_zone_or_without_a_profile() -> None:
    log = Logbook()
    log.contact("d1", utc(2, 14), Channel.EMAIL)
    log.profile("d2", utc(1, 12), timezone=None, phones=("+18005550100",))
    log.contact("d2", utc(2, 14), Channel.EMAIL)
    details = sorted(v.detail for v in audit(log.envelopes).violations)
    assert details == ["no profile before the send", "no time zone for the debtor"]


def test_a_second_sms_on_one_local_day_breaks_the_cap() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED))
    assert rules(log) == []
    second = log.contact("d1", utc(2, 20), Channel.SMS, (S.SENT, S.DELIVERED))
    violations = audit(log.envelopes).violations
    assert [(v.rule, v.request_id) for v in violations] == [("FREQUENCY_CAP", second)]
    assert "sms at most 1 per local day" in violations[0].detail


def test_local_days_not_utc_days() -> None:
    """10:00 and 20:30 in New York are on two UTC days (14:00 and 00:30) but one local day."""
    log = Logbook()
    log.profile("d1", utc(1, 12), jurisdictions=())
    log.contact("d1", utc(2, 14), Channel.EMAIL)
    log.contact("d1", utc(3, 0, 30), Channel.EMAIL)
    assert rules(log) == ["FREQUENCY_CAP"]


def test_a_failed_sms_does_not_count_against_the_cap() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 14), Channel.SMS, (S.SENT, S.FAILED))
    log.contact("d1", utc(2, 18), Channel.SMS, (S.SENT, S.DELIVERED))
    assert rules(log) == []


def test_a_fourth_sms_in_seven_local_days() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12), jurisdictions=())
    for day in (2, 4, 6, 8):
        log.contact("d1", utc(day, 14), Channel.SMS)
    assert rules(log) == ["FREQUENCY_CAP"]
    log.contact("d1", utc(10, 14), Channel.SMS)  # the 7 days ending on the 10th hold the 4th, 6th, 8th
    assert rules(log) == ["FREQUENCY_CAP", "FREQUENCY_CAP"]


def test_the_eighth_placed_call_on_an_account_in_seven_days() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    placed = [S.NO_ANSWER, S.VOICEMAIL, S.CONVERSATION]
    for day in range(2, 9):
        log.contact("d1", utc(day, 14), Channel.VOICE, (S.SENT, placed[day % 3]))
    log.contact("d1", utc(5, 15), Channel.VOICE, (S.SENT, S.BUSY))  # not a placed call
    assert rules(log) == []
    log.contact("d1", utc(8, 16), Channel.VOICE, (S.SENT, S.NO_ANSWER))
    violations = audit(log.envelopes).violations
    assert [v.rule for v in violations] == ["FREQUENCY_CAP"]
    assert "7 placed calls" in violations[0].detail


def test_massachusetts_allows_two_sms_or_calls_per_account_in_seven_days() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12), phones=(BOSTON_PHONE,), jurisdictions=("US-MA",))
    log.contact("d1", utc(2, 14), Channel.SMS, destination=BOSTON_PHONE)
    log.contact("d1", utc(4, 14), Channel.VOICE, (S.SENT, S.NO_ANSWER), destination=BOSTON_PHONE)
    log.contact("d1", utc(5, 14), Channel.VOICE, (S.SENT, S.BUSY), destination=BOSTON_PHONE)  # not initiated
    log.contact("d1", utc(5, 15), Channel.SMS, destination=BOSTON_PHONE, account="a2")  # another account
    assert rules(log) == []
    log.contact("d1", utc(8, 14), Channel.SMS, destination=BOSTON_PHONE)
    violations = audit(log.envelopes).violations
    assert [v.rule for v in violations] == ["FREQUENCY_CAP"]
    assert "US-MA" in violations[0].detail


def test_a_send_approved_after_a_payment_in_full() -> None:
    log = clean_log()
    late = log.contact("d1", utc(9, 17), Channel.EMAIL)
    violations = audit(log.envelopes).violations
    assert [(v.rule, v.request_id) for v in violations] == [("AFTER_STOP", late)]
    assert "payment in full" in violations[0].detail


def test_overdue_again_after_a_payment_in_full_may_be_contacted() -> None:
    log = clean_log()
    log.overdue("d1", utc(20, 2))
    log.contact("d1", utc(20, 14), Channel.EMAIL)
    assert rules(log) == []


def test_a_payment_in_full_on_another_account_does_not_stop_this_one() -> None:
    log = clean_log()
    log.contact("d1", utc(9, 17), Channel.EMAIL, account="a2")
    assert rules(log) == []


def test_a_send_approved_at_the_instant_of_the_stop_had_not_seen_it() -> None:
    log = clean_log()
    log.contact("d1", utc(9, 16), Channel.EMAIL)
    assert rules(log) == []


def test_an_opt_out_stops_that_address_on_that_channel_until_an_opt_in() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.consent("d1", utc(2, 13), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_OUT)
    log.contact("d1", utc(2, 14), Channel.VOICE, (S.SENT, S.NO_ANSWER))  # other channel: fine
    log.contact("d1", utc(2, 15), Channel.EMAIL)  # other address: fine
    assert rules(log) == []
    log.contact("d1", utc(3, 14), Channel.SMS)
    assert rules(log) == ["AFTER_STOP"]
    log.consent("d1", utc(4, 13), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_IN)
    log.contact("d1", utc(5, 14), Channel.SMS)
    assert rules(log) == ["AFTER_STOP"]


def test_hard_stop_flags_and_statuses() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.profile("d1", utc(2, 12), flags=("attorney", "vip"))
    log.contact("d1", utc(2, 14), Channel.EMAIL)
    log.profile("d2", utc(1, 12))
    log.status("d2", utc(2, 12), ev.AccountStatus.BANKRUPTCY, account="other")
    log.contact("d2", utc(2, 14), Channel.EMAIL)
    log.profile("d3", utc(1, 12))
    log.status("d3", utc(2, 12), ev.AccountStatus.DISPUTE_OPENED)
    log.contact("d3", utc(2, 14), Channel.EMAIL)
    log.status("d3", utc(3, 12), ev.AccountStatus.DISPUTE_CLOSED)
    log.contact("d3", utc(3, 14), Channel.EMAIL)
    log.profile("d4", utc(1, 12))
    log.status("d4", utc(2, 12), ev.AccountStatus.CLOSED)
    log.contact("d4", utc(2, 14), Channel.EMAIL)
    found = {(v.debtor_id, v.detail.split(" published")[0]) for v in audit(log.envelopes).violations}
    assert found == {
        ("d1", "approved after profile flag attorney"),
        ("d2", "approved after bankruptcy"),
        ("d3", "approved after dispute opened"),
        ("d4", "approved after account closed"),
    }


def test_sends_without_approval_or_after_valid_until() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 14), Channel.EMAIL, approve=False)
    log.contact("d1", utc(3, 14), Channel.EMAIL, valid_for=timedelta(seconds=1))
    assert sorted(rules(log)) == ["AFTER_VALID_UNTIL", "NO_APPROVAL"]


def test_approved_but_never_accepted_is_not_a_send() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.contact("d1", utc(2, 3), Channel.SMS, (S.FAILED,))
    log.contact("d1", utc(2, 4), Channel.SMS, (S.EXPIRED,))
    assert audit(log.envelopes).sends == 0


def test_duplicates_and_order_do_not_matter() -> None:
    log = clean_log()
    log.contact("d1", utc(10, 3), Channel.SMS, account="a2")
    shuffled = list(reversed(log.envelopes)) + log.envelopes[:10]
    assert audit(shuffled) == audit(log.envelopes)


def test_the_audit_imports_nothing_from_the_gatekeeper() -> None:
    code = (
        "import sys, services.reporting.audit; "
        "print(sorted(m for m in sys.modules if m.startswith('services.gatekeeper')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_opt_out_matches_the_address_however_it_was_written() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.consent("d1", utc(2, 13), "+1 (212) 555-0100", Channel.SMS, ev.ConsentChange.OPT_OUT)
    log.contact("d1", utc(3, 14), Channel.SMS, destination="+1 212-555-0100")
    assert rules(log) == ["AFTER_STOP"]


def test_an_opt_out_stands_against_an_older_opt_in_that_arrives_after_it() -> None:
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.consent("d1", utc(2, 13), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_OUT)
    late_opt_in = ev.ConsentChanged(
        debtor_id="d1",
        address=NY_PHONE,
        channel=Channel.SMS,
        change=ev.ConsentChange.OPT_IN,
        source=ev.ConsentSource.SMS_REPLY,
        occurred_at=utc(2, 12),  # before the opt-out, published after it
    )
    log.add(late_opt_in, utc(2, 14))
    log.contact("d1", utc(3, 14), Channel.SMS)
    assert rules(log) == ["AFTER_STOP"]


def test_an_opt_out_confirmation_answers_the_stop_it_confirms_and_only_within_five_minutes() -> None:
    """In real time the confirmation is approved a moment after the STOP was published; a debtor who sends
    STOP again later gets its confirmation too. A confirmation with no STOP in the five minutes before it, and
    any other text, are after the stop."""
    log = Logbook()
    log.profile("d1", utc(1, 12))
    log.consent("d1", utc(2, 13), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_OUT)
    confirm = {"kind": RequestKind.REPLY, "template": "opt_out_confirmation"}
    log.contact("d1", utc(2, 13) + timedelta(seconds=2), Channel.SMS, **confirm)
    assert rules(log) == []
    log.consent("d1", utc(2, 17), NY_PHONE, Channel.SMS, ev.ConsentChange.OPT_OUT)  # STOP again
    log.contact("d1", utc(2, 17) + timedelta(minutes=4), Channel.SMS, **confirm)
    assert rules(log) == []
    log.contact("d1", utc(2, 17) + timedelta(minutes=6), Channel.SMS, **confirm)
    log.contact("d1", utc(2, 17) + timedelta(minutes=1), Channel.SMS)  # a reminder, not a confirmation
    assert rules(log) == ["AFTER_STOP", "AFTER_STOP"]
