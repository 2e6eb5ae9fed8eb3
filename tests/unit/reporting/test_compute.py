"""The effectiveness report computed from a small hand-made event log, every KPI checked to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from schemas.vocab import Channel, OutcomeStatus, ReasonCode
from services.reporting.compute import compute
from services.reporting.experiment import Experiment
from services.reporting.fx import Fx, RateFile
from services.reporting.model import ArmStats, ChannelStats, Report
from tests.unit.reporting.logbook import Logbook, utc

S = OutcomeStatus
D = Decimal

# A round rate, so that every converted figure below can be checked by hand: 500 GBP = 625 USD.
FX = Fx.of(RateFile(currency="USD", source="test rates", rates={"GBP": {date(2026, 6, 1): D("1.25")}}))
EXPERIMENT = Experiment(
    source="test split", shares={"champion": D(80), "early-voice": D(20)}, segments={"s1": "early"}
)


def portfolio() -> Logbook:
    log = Logbook()
    # d1 (champion): an SMS, a call that reaches the debtor, a promise kept, then paid in full.
    log.profile("d1", utc(1, 12))
    log.overdue("d1", utc(2, 2), balance="1000")
    log.contact("d1", utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED), cost="0.0079")
    log.contact("d1", utc(3, 14), Channel.VOICE, (S.SENT, S.CONVERSATION), cost="0.0140")
    log.promise("d1", utc(3, 15), "300", date(2026, 6, 10))
    log.payment("d1", utc(5, 16), "300", after="700", payment_id="p1")
    log.payment("d1", utc(12, 16), "700", after="0", payment_id="p2")
    # d2 (early-voice): two calls nobody answers in person, an email, a promise broken.
    log.profile("d2", utc(1, 12))
    log.overdue("d2", utc(2, 2), balance="900")
    log.contact("d2", utc(3, 14), Channel.VOICE, (S.SENT, S.NO_ANSWER), arm="early-voice", cost="0.0140")
    log.contact("d2", utc(4, 14), Channel.VOICE, (S.SENT, S.VOICEMAIL), arm="early-voice", cost="0.0140")
    log.contact("d2", utc(5, 14), Channel.EMAIL, arm="early-voice")
    log.promise("d2", utc(4, 15), "100", date(2026, 6, 6))
    log.block("d2", utc(6, 14), Channel.SMS, ReasonCode.OPTED_OUT, arm="early-voice")
    log.block("d2", utc(7, 14), Channel.SMS, ReasonCode.OPTED_OUT, arm="early-voice")
    log.block("d2", utc(7, 15), Channel.SMS, ReasonCode.TIMEZONE_UNKNOWN, arm="early-voice")
    # d3: never contacted, pays in pounds the next day.
    log.overdue("d3", utc(2, 2), balance="500", currency="GBP")
    log.payment("d3", utc(3, 14), "500", after="0", currency="GBP")
    # d4 (champion): a request the gatekeeper has not decided yet; a promise not yet due.
    log.overdue("d4", utc(2, 2), balance="2000")
    log.contact("d4", utc(20, 14), Channel.SMS, (), approve=False)
    log.promise("d4", utc(21, 15), "100", date(2026, 6, 30))
    # Redelivery: the same record twice, and the same outcome under another ce_id.
    log.envelopes.append(log.envelopes[6])
    outcome = next(e for e in log.envelopes if type(e.event).__name__ == "ContactOutcome")
    log.add(outcome.event, outcome.time, id="another-ce-id")
    return log


@pytest.fixture(scope="module")
def report() -> Report:
    return compute(portfolio().envelopes, grace_days=2, fx=FX, experiment=EXPERIMENT)


def arm(report: Report, name: str) -> ArmStats:
    return next(a for a in report.arms if a.arm == name)


def channel(stats: list[ChannelStats], name: str) -> ChannelStats:
    return next(c for c in stats if c.channel == name)


def test_arms_come_from_requests_and_uncontacted_accounts_are_unassigned(report: Report) -> None:
    assert [a.arm for a in report.arms] == ["champion", "early-voice", "unassigned"]
    assert [(a.debtors, a.accounts) for a in report.arms] == [(2, 2), (1, 1), (1, 1)]
    assert report.as_of == utc(21, 15)


def test_contacts_attempted_delivered_and_right_party_contact(report: Report) -> None:
    champion, challenger = arm(report, "champion"), arm(report, "early-voice")
    assert (champion.requested, champion.attempted, champion.delivered) == (3, 2, 2)
    assert champion.rpc_rate == D("1.0000")
    assert (challenger.attempted, challenger.delivered) == (3, 2)
    assert challenger.rpc_rate == D("0.0000")
    assert report.total.rpc_rate == D("0.3333")
    voice = channel(report.channels, "voice")
    assert (voice.requested, voice.approved, voice.attempted, voice.delivered, voice.conversations) == (
        3,
        3,
        3,
        2,
        1,
    )
    assert voice.outcomes == {"conversation": 1, "no_answer": 1, "voicemail": 1}
    sms = channel(report.channels, "sms")
    assert (sms.requested, sms.approved, sms.attempted, sms.delivered) == (2, 1, 1, 1)
    assert sms.rpc_rate is None
    assert sms.outcomes == {"delivered": 1, "pending": 1}


def test_promises_kept_broken_and_pending(report: Report) -> None:
    champion, challenger = arm(report, "champion"), arm(report, "early-voice")
    assert (champion.promises, champion.promises_kept, champion.promises_pending) == (2, 1, 1)
    assert champion.kept_rate == D("1.0000")
    assert champion.promise_rate == D("1.0000")
    assert (challenger.promises_broken, challenger.kept_rate) == (1, D("0.0000"))
    total = report.total
    assert (total.accounts_promised, total.promise_rate, total.kept_rate) == (3, D("0.7500"), D("0.5000"))


def test_cure_recovery_and_days_to_recovery(report: Report) -> None:
    champion, unassigned = arm(report, "champion"), arm(report, "unassigned")
    assert (champion.cured, champion.cure_rate) == (1, D("0.5000"))
    assert champion.recovered == {"USD": D("1000")}
    assert champion.overdue_at_entry == {"USD": D("3000")}
    assert champion.recovered_total == D("1000")
    assert champion.recovery_rate == D("0.333333")
    assert champion.median_days_to_recovery == D("10.6")
    assert unassigned.recovered == {"GBP": D("500")}
    assert (unassigned.recovered_total, unassigned.overdue_at_entry_total) == (D("625"), D("625"))
    assert unassigned.median_days_to_recovery == D("1.5")
    assert report.total.recovered == {"GBP": D("500"), "USD": D("1000")}
    assert (report.total.recovered_total, report.total.overdue_at_entry_total) == (D("1625"), D("4525"))
    assert report.total.recovery_rate == D("0.359116")  # 1625 / 4525
    assert report.total.cure_rate == D("0.5000")
    assert report.total.median_days_to_recovery == D("6.0")
    assert arm(report, "early-voice").median_days_to_recovery is None


def test_cost_and_cost_to_collect_in_the_reporting_currency(report: Report) -> None:
    champion = arm(report, "champion")
    assert champion.cost == {"USD": D("0.0219")}
    assert champion.cost_to_collect == D("0.000022")
    assert arm(report, "early-voice").cost == {"USD": D("0.0280")}
    assert arm(report, "early-voice").cost_to_collect is None
    assert channel(report.channels, "voice").cost == {"USD": D("0.0420")}
    assert channel(report.channels, "email").cost == {}
    # Every cost over every recovery, the pounds converted: 0.0499 / 1625, not 0.0499 / 1000 (USD only).
    assert report.total.cost_total == D("0.0499")
    assert report.total.cost_to_collect == D("0.000031")


def test_payments_and_promises_go_to_the_last_send_before_them(report: Report) -> None:
    voice, sms = channel(report.channels, "voice"), channel(report.channels, "sms")
    assert voice.recovered == {"USD": D("1000")}
    assert voice.promises == 2
    assert sms.recovered == {}
    assert voice.cost_to_collect == D("0.000042")


def test_recovery_and_cure_curves_are_shares_by_day_since_entering_collections(report: Report) -> None:
    # Entered 2 June 02:00, paid 300 on day 3 and 700 on day 10 of 3,000 overdue; the log ends on day 19.
    curve = {p.day: p for p in arm(report, "champion").curve}
    assert sorted(curve) == list(range(20))
    assert {p.accounts for p in curve.values()} == {2}
    assert curve[2].recovered_share == D(0)
    assert curve[3].recovered_share == D("0.1000")
    assert curve[10].recovered_share == D("0.3333")
    assert (curve[9].cure_share, curve[10].cure_share) == (D(0), D("0.5000"))


def test_compliance_decisions_by_decision_and_reason(report: Report) -> None:
    assert report.compliance.decisions == {"allow": 5, "block": 3}
    assert [(c.decision, c.reason, c.count, c.share) for c in report.compliance.by_reason] == [
        ("allow", "none", 5, D(1)),
        ("block", "OPTED_OUT", 2, D("0.6667")),
        ("block", "TIMEZONE_UNKNOWN", 1, D("0.3333")),
    ]
    assert report.compliance.several_reasons == 0


def test_money_is_decimal_and_the_report_round_trips_as_json(report: Report) -> None:
    assert all(isinstance(v, Decimal) for v in report.total.recovered.values())
    assert Report.model_validate_json(report.model_dump_json()) == report


def test_an_empty_log() -> None:
    empty = compute([], fx=FX, experiment=EXPERIMENT)
    assert empty.as_of is None
    assert empty.arms == []
    assert empty.total.accounts == 0
    assert empty.total.cure_rate is None
