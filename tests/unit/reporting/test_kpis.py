"""The collections manager's figures on small logs built by hand: roll and cure by bucket, the contact
funnel, last-touch attribution that does not depend on log order, the accounts counted, opt-outs per
template, hours of the day, and champion vs challenger with its test statistic recomputed here."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus
from services.core.settings import ConfigError
from services.reporting.compute import compute
from services.reporting.experiment import SHIPPED_STRATEGY, Experiment
from services.reporting.model import ArmStats, ChannelStats, Report
from tests.unit.reporting.logbook import Logbook, utc
from tests.unit.reporting.test_compute import EXPERIMENT, FX

S = OutcomeStatus
D = Decimal


def report_of(log: Logbook, experiment: Experiment = EXPERIMENT) -> Report:
    return compute(log.envelopes, fx=FX, experiment=experiment)


def channel(stats: ArmStats, name: str) -> ChannelStats:
    return next(c for c in stats.channels if c.channel == name)


def test_roll_rates_and_cure_by_bucket() -> None:
    log = Logbook()
    log.overdue("r1", utc(1, 2), dpd=25)
    log.overdue("r1", utc(11, 2), dpd=35)  # rolled from 1-30, still in 31-60 at the end
    log.overdue("r2", utc(1, 2), dpd=28)
    log.status("r2", utc(2, 10), ev.AccountStatus.CURED)  # cured from 1-30
    log.overdue("r3", utc(1, 2), dpd=40)
    log.overdue("r3", utc(26, 2), dpd=65)  # rolled from 31-60 ...
    log.payment("r3", utc(27, 10), "1000", after="0")  # ... then cured from 61-90
    log.overdue("r4", utc(1, 2), dpd=10)  # neither
    buckets = {b.bucket: b for b in report_of(log).total.buckets}
    assert list(buckets) == ["1-30", "31-60", "61-90", "90+"]
    early = buckets["1-30"]
    assert (early.accounts, early.rolled, early.cured, early.neither) == (3, 1, 1, 1)
    assert (early.roll_rate, early.cure_rate) == (D("0.3333"), D("0.3333"))
    late = buckets["31-60"]
    assert (late.accounts, late.rolled, late.cured, late.neither, late.roll_rate) == (2, 1, 0, 1, D("0.5000"))
    assert (buckets["61-90"].accounts, buckets["61-90"].cured, buckets["61-90"].cure_rate) == (1, 1, D(1))
    assert (buckets["90+"].accounts, buckets["90+"].roll_rate) == (0, None)


def funnel_log() -> Logbook:
    log = Logbook()
    log.profile("f1", utc(1, 12))
    log.overdue("f1", utc(2, 2))
    log.contact("f1", utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED, S.REPLIED))
    log.contact("f1", utc(2, 15), Channel.SMS, (), approve=False)
    log.contact("f1", utc(3, 14), Channel.VOICE, (S.SENT, S.CONVERSATION))
    log.promise("f1", utc(3, 15), "100", date(2026, 6, 5))
    log.contact("f1", utc(4, 14), Channel.EMAIL, (S.SENT,))
    log.payment("f1", utc(5, 10), "100")
    return log


def test_contact_funnel_from_request_to_payment() -> None:
    total = report_of(funnel_log()).total
    stages = ("requested", "approved", "attempted", "delivered", "right_party", "promised", "paid")
    funnel = {c.channel: tuple(getattr(c, s) for s in stages) for c in total.channels}
    assert funnel == {
        "sms": (2, 1, 1, 1, 1, 0, 0),
        "voice": (1, 1, 1, 1, 1, 1, 0),  # the promise followed the call
        "email": (1, 1, 1, 1, 0, 0, 1),  # the payment followed the email, the last send before it
    }


def test_last_touch_breaks_ties_on_request_id_whatever_the_log_order() -> None:
    log = Logbook()
    log.overdue("t1", utc(2, 2))
    first = log.contact("t1", utc(3, 14), Channel.SMS)
    second = log.contact("t1", utc(3, 14), Channel.VOICE, (S.SENT, S.NO_ANSWER))  # the same instant
    log.payment("t1", utc(4, 10), "100")
    winner = max([(first, "sms"), (second, "voice")])[1]
    for envelopes in (log.envelopes, list(reversed(log.envelopes))):
        stats = compute(envelopes, fx=FX, experiment=EXPERIMENT).total
        assert channel(stats, winner).paid == 1
        assert sum(c.paid for c in stats.channels) == 1
    forward = compute(log.envelopes, fx=FX, experiment=EXPERIMENT)
    assert compute(list(reversed(log.envelopes)), fx=FX, experiment=EXPERIMENT) == forward


def test_the_report_says_which_accounts_it_counts() -> None:
    log = funnel_log()
    log.payment("f2", utc(1, 10), "300", after="0", account="a7")  # paid before any overdue notice
    log.promise("f3", utc(3, 10), "50", date(2026, 6, 9), account="a8")
    log.overdue("f4", utc(5, 2))
    log.payment("f4", utc(4, 10), "20", after="980")  # before the account entered collections
    population = report_of(log).population
    assert (population.accounts_in_log, population.accounts_counted) == (4, 2)
    assert (population.accounts_never_overdue, population.accounts_never_overdue_with_payments) == (2, 1)
    assert (population.debtors_in_log, population.debtors_counted) == (4, 2)
    assert population.payments_before_entry == 1
    assert population.accounts_unassigned == 1  # f4 was never contacted


def test_opt_outs_per_template_and_contact_rate_by_local_hour() -> None:
    log = Logbook()
    log.profile("o1", utc(1, 12))
    log.overdue("o1", utc(2, 2))
    log.contact("o1", utc(2, 13), Channel.SMS, (S.SENT, S.DELIVERED), template="reminder")  # 09:00 EDT
    log.contact("o1", utc(3, 13), Channel.SMS, (S.SENT, S.UNDELIVERED), template="second_reminder")
    log.contact("o1", utc(4, 18), Channel.VOICE, (S.SENT, S.CONVERSATION), template="call")  # 14:00 EDT
    log.consent("o1", utc(3, 20), "+12125550100", Channel.SMS, ev.ConsentChange.OPT_OUT)
    log.consent("o1", utc(3, 21), "o1@example.com", Channel.EMAIL, ev.ConsentChange.OPT_OUT)  # no email sent
    report = report_of(log)
    templates = {(t.channel, t.template): (t.sends, t.opt_outs, t.opt_out_rate) for t in report.templates}
    assert templates == {
        ("sms", "reminder"): (1, 0, D(0)),
        ("sms", "second_reminder"): (1, 1, D(1)),
        ("voice", "call"): (1, 0, D(0)),
    }
    assert report.opt_outs_without_send == 1
    hours = {h.hour: (h.sends, h.delivered, h.contact_rate, h.calls, h.rpc_rate) for h in report.total.hours}
    assert hours == {9: (2, 1, D("0.5000"), 0, None), 14: (1, 1, D(1), 1, D(1))}


def experiment_log() -> Logbook:
    """30 champion accounts of which 20 cure, 30 challenger accounts of which 10 cure."""
    log = Logbook()
    for arm, cured in (("champion", 20), ("early-voice", 10)):
        for index in range(30):
            debtor = f"{arm}-{index}"
            log.overdue(debtor, utc(2, 2))
            log.contact(debtor, utc(2, 14), Channel.SMS, (S.SENT, S.DELIVERED), arm=arm, cost="0.01")
            if index < cured:
                log.status(debtor, utc(5, 10), ev.AccountStatus.CURED)
    return log


def test_champion_against_challenger_with_the_z_statistic_recomputed_by_hand() -> None:
    report = report_of(experiment_log())
    [comparison] = report.comparisons
    assert (comparison.champion, comparison.challenger) == ("champion", "early-voice")
    tests = {t.kpi: t for t in comparison.tests}
    cure = tests["cure rate"]
    pooled = 30 / 60
    z = (10 / 30 - 20 / 30) / math.sqrt(pooled * (1 - pooled) * (2 / 30))
    assert cure.test == "two-proportion z test"
    assert cure.statistic == pytest.approx(z) == pytest.approx(-2.5820, abs=1e-4)
    assert cure.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert (cure.champion_value, cure.challenger_value, cure.difference) == (
        D("0.6667"),
        D("0.3333"),
        D("-0.3334"),
    )
    assert (cure.champion_n, cure.challenger_n) == (30, 30)
    # Tested: cure, promise (Fisher, 0 of 30 each), recovered share and cost (all equal): Holm's m is 4.
    assert [t.kpi for t in comparison.tests if t.p_value is not None] == [
        "cure rate",
        "promise rate",
        "recovered share per account",
        "cost per account",
    ]
    assert cure.p_holm == pytest.approx(4 * cure.p_value)
    assert cure.significant and cure.verdict == "significant at 95%: early-voice lower"
    assert tests["promise rate"].test == "Fisher's exact test"
    assert tests["promise rate"].verdict == "not significant at 95%"
    assert tests["kept-promise rate"].verdict == "not tested: no judged promises in one arm"
    assert tests["recovered share per account"].test == "Mann-Whitney U test"
    assert tests["cost per account"].champion_value == D("0.0100")


def test_the_observed_split_against_the_configured_one() -> None:
    split = report_of(experiment_log()).sample_ratio
    assert split is not None
    assert split.observed == {"champion": 30, "early-voice": 30}
    chi2 = (30 - 48) ** 2 / 48 + (30 - 12) ** 2 / 12
    assert split.statistic == pytest.approx(chi2) == pytest.approx(33.75)
    assert split.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))
    assert split.mismatch and split.verdict.startswith("mismatch at 99.9%")
    even = EXPERIMENT.with_shares({"champion": D(50), "early-voice": D(50)}, "--split")
    balanced = report_of(experiment_log(), even).sample_ratio
    assert balanced is not None
    assert (balanced.statistic, balanced.mismatch, balanced.verdict) == (0.0, False, "no mismatch at 99.9%")


def test_segments_come_from_the_step_of_the_first_request() -> None:
    log = Logbook()
    log.overdue("s1", utc(2, 2))
    log.contact("s1", utc(2, 14), Channel.SMS, step="sms-late")
    log.contact("s1", utc(3, 14), Channel.SMS, step="sms-reminder")
    log.overdue("s2", utc(2, 2), product="credit_card")
    shipped = Experiment.load(SHIPPED_STRATEGY)
    breakdowns = {
        b.dimension: {g.key: g.accounts for g in b.groups} for b in report_of(log, shipped).breakdowns
    }
    assert breakdowns["segment"] == {"late": 1, "not contacted": 1}
    assert breakdowns["product"] == {"credit_card": 1, "personal_loan": 1}
    assert breakdowns["jurisdiction"] == {"no profile": 2}
    assert breakdowns["currency"] == {"USD": 2}


def test_the_split_from_the_strategy_file_or_from_the_command_line() -> None:
    shipped = Experiment.load(SHIPPED_STRATEGY)
    assert shipped.shares == {"champion": D(80), "early-voice": D(20)}
    assert (shipped.champion, shipped.strategy, shipped.name) == (
        "champion",
        "standard",
        "2026-h2-early-voice",
    )
    assert shipped.segments["early-call"] == "early"
    assert Experiment.parse_split("champion=70, b=30") == {"champion": D(70), "b": D(30)}
    for bad, message in (
        ("champion=70,b=20", "add up to 100"),
        ("champion", "NAME=SHARE"),
        ("a=x,b=100", "NAME"),
    ):
        with pytest.raises(ConfigError, match=message):
            Experiment.parse_split(bad)


def test_a_bad_strategy_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'strategy = "s"\nversion = "1"\n[experiment]\nname = "x"\narms = [{ name = "a", share = 0 }]\n'
    )
    with pytest.raises(
        ConfigError, match=r"bad\.toml: experiment\.arms\[0\]\.share: Input should be greater"
    ):
        Experiment.load(path)
