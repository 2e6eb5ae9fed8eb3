"""The report laid out once for both views: sections of paragraphs and tables whose cells are already
formatted, each table with its caption and the definition of every column. ``render`` prints them as text,
``html`` through a Jinja2 template (adding the charts). The only place numbers are formatted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from services.reporting.audit import AuditResult
from services.reporting.definitions import Figure, define
from services.reporting.model import (
    ArmStats,
    Breakdown,
    Comparison,
    KpiTest,
    Money,
    Report,
    SampleRatio,
)

CENT = Decimal("0.01")
_NUMERIC = re.compile(r"^(-|[-+<]?\s?[\d,]+(\.\d+)?(%| pts)?( / [\d,]+)?)$")


def is_numeric(cell: str) -> bool:
    """A cell that reads as a number (aligned right in both views): counts, amounts, rates, ``-``."""
    return bool(_NUMERIC.match(cell))


CURVE_DAYS = (7, 14, 30, 60, 90)


def money(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):,}"


def booked(amounts: Money) -> str:
    """``1,234.50 USD; 88.00 CNY``, or ``-`` when there is none."""
    return "; ".join(f"{money(amount)} {currency}" for currency, amount in amounts.items()) or "-"


def percent(rate: Decimal | None, places: str = "0.1") -> str:
    return "-" if rate is None else f"{(rate * 100).quantize(Decimal(places))}%"


def points(difference: Decimal | None) -> str:
    """A difference between two rates, in percentage points."""
    return "-" if difference is None else f"{(difference * 100).quantize(Decimal('0.1')):+} pts"


def ratio(value: Decimal | None) -> str:
    """Cost to collect: cost as a percentage of the amount recovered, to 3 places (it is often small)."""
    return "-" if value is None else f"{(value * 100).quantize(Decimal('0.001'))}%"


def count(value: int) -> str:
    return f"{value:,}"


def days(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def statistic(name: str | None, value: float | None) -> str:
    if name is None:
        return "-"
    return f"{name} = {value:.3f}" if value is not None else f"{name} = inf"


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[Figure]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    @property
    def definitions(self) -> list[Figure]:
        return self.columns

    @property
    def numeric(self) -> list[bool]:
        """Columns aligned right: every cell reads as a number (the first column names the row)."""
        return [
            index > 0 and bool(self.rows) and all(is_numeric(row[index]) for row in self.rows)
            for index in range(len(self.columns))
        ]


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


class _Layout:
    def __init__(self, report: Report, audit: AuditResult | None, by_currency: bool) -> None:
        self.report = report
        self.audit = audit
        self.by_currency = by_currency
        self.currency = report.currency

    def table(
        self, caption: str, labels: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()
    ) -> Table:
        return Table(
            caption, [define(label, self.currency) for label in labels], [list(r) for r in rows], list(notes)
        )

    # ---- the sections, in the order both views show them

    def sections(self) -> list[Section]:
        parts = [
            self.population(),
            self.per_arm(),
            self.comparison(),
            self.curves(),
            self.buckets(),
            self.funnel(),
            self.economics(),
            self.outcomes(),
            self.templates(),
            self.hours(),
            *self.breakdowns(),
            self.escalations(),
            self.compliance(),
            self.rates(),
        ]
        if self.audit is not None:
            parts.append(self.audited(self.audit))
        return parts

    def arms(self) -> list[ArmStats]:
        return [*self.report.arms, self.report.total]

    def population(self) -> Section:
        p = self.report.population
        fx = self.report.fx
        paragraphs = [
            f"The log names {count(p.accounts_in_log)} accounts of {count(p.debtors_in_log)} debtors. "
            f"{count(p.accounts_counted)} accounts of {count(p.debtors_counted)} debtors entered collections "
            "(they have an AccountOverdue) and are the accounts counted below; "
            f"{count(p.accounts_never_overdue)} never entered collections and are left out"
            + (
                f" ({count(p.accounts_never_overdue_with_payments)} of them with payments: paid before their "
                "first overdue notice)"
                if p.accounts_never_overdue
                else ""
            )
            + ".",
            f"{count(p.payments_before_entry)} payments posted before their account entered collections "
            f"are not counted as recovered. {count(p.accounts_unassigned)} counted accounts belong to "
            "debtors never contacted, so with no strategy arm: they are the row 'unassigned'.",
            f"Every amount is in {fx.currency}, converted at the dated rates of {fx.source} "
            f"({fx.description}); amounts as booked, per currency, are in the JSON output and with "
            "--by-currency.",
        ]
        return Section("population", "Accounts in this report", paragraphs)

    def per_arm(self) -> Section:
        c = self.currency
        contacts = self.table(
            "Contacts and promises per arm",
            ["arm", "debtors", "accounts", "attempted", "delivered", "RPC rate", "promise rate", "kept rate"],
            [
                [
                    a.arm,
                    count(a.debtors),
                    count(a.accounts),
                    count(a.attempted),
                    count(a.delivered),
                    percent(a.rpc_rate),
                    percent(a.promise_rate),
                    percent(a.kept_rate),
                ]
                for a in self.arms()
            ],
        )
        cure = self.table(
            "Cure per arm",
            ["arm", "accounts", "cured", "cure rate", "median days"],
            [
                [
                    a.arm,
                    count(a.accounts),
                    count(a.cured),
                    percent(a.cure_rate),
                    days(a.median_days_to_recovery),
                ]
                for a in self.arms()
            ],
        )
        money_table = self.table(
            f"Recovery and cost per arm ({c})",
            [
                "arm",
                "overdue ({currency})",
                "recovered ({currency})",
                "recovery rate",
                "cost ({currency})",
                "cost to collect",
            ],
            [
                [
                    a.arm,
                    money(a.overdue_at_entry_total),
                    money(a.recovered_total),
                    percent(a.recovery_rate),
                    money(a.cost_total),
                    ratio(a.cost_to_collect),
                ]
                for a in self.arms()
            ],
        )
        tables = [contacts, cure, money_table]
        if self.by_currency:
            tables.append(
                self.table(
                    "Per arm, as booked (per currency)",
                    ["arm", "overdue (booked)", "recovered (booked)"],
                    [[a.arm, booked(a.overdue_at_entry), booked(a.recovered)] for a in self.arms()],
                )
            )
        paragraphs = [
            f"Promises are judged {self.report.grace_days} days after their date. The cure rate counts "
            "accounts back to 0 days past due; the recovery rate counts money, against the total outstanding "
            "at entry."
        ]
        return Section("arms", "Per strategy arm", paragraphs, tables)

    def comparison(self) -> Section:
        paragraphs = self.split_paragraphs(self.report.sample_ratio)
        tables = []
        for comparison in self.report.comparisons:
            tables += self.comparison_tables(comparison)
        if not self.report.comparisons:
            paragraphs.append("No comparison: the log has no challenger arm beside the champion.")
        else:
            paragraphs.append(
                "Each KPI of each challenger is tested against the champion; Holm's correction runs across "
                f"all {sum(len(c.tests) for c in self.report.comparisons)} tests, so a 'significant' verdict "
                "holds for the whole report at 95%, not for one test alone."
            )
        split = self.report.sample_ratio
        if split is not None and split.observed:
            total = sum(split.observed.values()) or 1
            tables.insert(
                0,
                self.table(
                    "Observed split of debtors against the configured split",
                    ["arm", "configured", "observed debtors", "observed share"],
                    [
                        [
                            arm,
                            f"{split.configured[arm]}%" if arm in split.configured else "-",
                            count(n),
                            percent(Decimal(n) / Decimal(total)),
                        ]
                        for arm, n in split.observed.items()
                    ],
                ),
            )
        return Section("comparison", "Champion vs challenger", paragraphs, tables)

    def split_paragraphs(self, split: SampleRatio | None) -> list[str]:
        if split is None:
            return ["No configured split was given: the sample-ratio check did not run."]
        source = f"{split.source}" + (
            f" (strategy {split.strategy} {split.version}, experiment {split.experiment})"
            if split.strategy
            else ""
        )
        text = f"Sample-ratio check against the split configured in {source}: "
        if split.test is not None:
            text += (
                f"{split.test}, {statistic('chi-square', split.statistic)}, p = {p_value(split.p_value)}: "
                f"{split.verdict}."
            )
        else:
            text += f"{split.verdict}."
        paragraphs = [text]
        configured = f"{split.strategy} {split.version}"
        if split.strategy and split.log_versions and split.log_versions != [configured]:
            paragraphs.append(
                f"Note: the log's requests name strategy versions {', '.join(split.log_versions)}, the split "
                f"is read from {configured}: check that it is the split those requests ran under."
            )
        return paragraphs

    def comparison_tables(self, comparison: Comparison) -> list[Table]:
        title = f"{comparison.challenger} against {comparison.champion}"

        def value(test: KpiTest, v: Decimal | None) -> str:
            if test.kpi == "cost per account":
                return "-" if v is None else money(v)
            return percent(v)

        def difference(test: KpiTest) -> str:
            if test.kpi == "cost per account":
                return "-" if test.difference is None else f"{test.difference.quantize(CENT):+,}"
            return points(test.difference)

        values = self.table(
            f"{title}: values",
            ["KPI", "unit", "champion", "challenger", "difference", "n"],
            [
                [
                    t.kpi,
                    t.unit,
                    value(t, t.champion_value),
                    value(t, t.challenger_value),
                    difference(t),
                    f"{count(t.champion_n)} / {count(t.challenger_n)}",
                ]
                for t in comparison.tests
            ],
            [
                f"cost per account is in {self.currency}; recovered share per account is recovered / "
                "overdue at entry."
            ],
        )
        tests = self.table(
            f"{title}: tests",
            ["KPI", "verdict", "Holm p", "p", "test", "statistic"],
            [
                [
                    t.kpi,
                    t.verdict,
                    p_value(t.p_holm),
                    p_value(t.p_value),
                    t.test or "-",
                    statistic(t.statistic_name, t.statistic),
                ]
                for t in comparison.tests
            ],
        )
        return [values, tests]

    def curves(self) -> Section:
        rows = []
        for arm in self.arms():
            last = arm.curve[-1].day if arm.curve else None
            wanted = {d for d in CURVE_DAYS if last is not None and d <= last} | (
                {last} if last is not None else set()
            )
            rows += [
                [arm.arm, str(p.day), count(p.accounts), percent(p.cure_share), percent(p.recovered_share)]
                for p in arm.curve
                if p.day in wanted
            ]
        table = self.table(
            "Cured and recovered shares by day since entering collections",
            ["arm", "day", "observed", "cured share", "recovered share"],
            rows,
        )
        paragraphs = [
            "Shares, not amounts: each arm against its own accounts, so arms of different sizes compare "
            "directly. Each day's share counts only accounts observed at least that long."
        ]
        return Section("curves", "Recovery and cure curves", paragraphs, [table])

    def buckets(self) -> Section:
        rows = [
            [
                arm.arm,
                b.bucket,
                count(b.accounts),
                count(b.rolled),
                percent(b.roll_rate),
                count(b.cured),
                percent(b.cure_rate),
                count(b.neither),
            ]
            for arm in self.arms()
            for b in arm.buckets
            if b.accounts
        ]
        table = self.table(
            "Roll and cure by days-past-due bucket",
            ["arm", "bucket", "reached", "rolled", "roll rate", "cured from", "bucket cure rate", "neither"],
            rows,
        )
        paragraphs = [
            "Over the period the log covers: of the accounts that reached each bucket, how many rolled into "
            "a worse one, how many cured first, and how many did neither yet."
        ]
        return Section("buckets", "Roll rates and cure by bucket", paragraphs, [table])

    def funnel(self) -> Section:
        rows = [
            [
                arm.arm,
                c.channel,
                count(c.requested),
                count(c.approved),
                count(c.attempted),
                count(c.delivered),
                count(c.right_party),
                count(c.promised),
                count(c.paid),
            ]
            for arm in self.arms()
            for c in arm.channels
            if c.requested or c.attempted
        ]
        table = self.table(
            "Contact funnel per arm and channel",
            [
                "arm",
                "channel",
                "requested",
                "approved",
                "attempted",
                "delivered",
                "right party",
                "promise",
                "paid",
            ],
            rows,
        )
        return Section(
            "funnel",
            "Contact funnel",
            ["From request to payment, per channel: each stage counts requests that got that far."],
            [table],
        )

    def economics(self) -> Section:
        rows = [
            [
                arm.arm,
                c.channel,
                money(c.cost_total),
                money(c.cost_total / arm.accounts) if arm.accounts else "-",
                count(c.promises),
                money(c.recovered_total),
                ratio(c.cost_to_collect),
            ]
            for arm in self.arms()
            for c in arm.channels
            if c.requested or c.attempted
        ]
        table = self.table(
            f"Cost and attributed results per arm and channel ({self.currency})",
            [
                "arm",
                "channel",
                "cost ({currency})",
                "per account ({currency})",
                "promises*",
                "recovered* ({currency})",
                "cost to collect*",
            ],
            rows,
            ["* last-touch attribution: payments with no earlier send are credited to no channel."],
        )
        return Section("economics", "Channel cost and attributed results", [], [table])

    def outcomes(self) -> Section:
        table = self.table(
            "Requests by channel and final outcome",
            ["channel", "outcome", "requests"],
            [
                [c.channel, outcome, count(n)]
                for c in self.report.channels
                for outcome, n in c.outcomes.items()
            ],
        )
        return Section("outcomes", "Outcomes", [], [table])

    def templates(self) -> Section:
        table = self.table(
            "Opt-outs per template",
            ["channel", "template", "sends", "opt-outs", "opt-out rate"],
            [
                [t.channel, t.template, count(t.sends), count(t.opt_outs), percent(t.opt_out_rate, "0.01")]
                for t in self.report.templates
            ],
            [
                f"{count(self.report.opt_outs_without_send)} opt-outs followed no send to that address and "
                "are not credited."
            ],
        )
        return Section("templates", "Opt-outs per template", [], [table])

    def hours(self) -> Section:
        total = self.report.total
        table = self.table(
            "Sends by the debtor's local hour (all arms)",
            ["local hour", "sends", "delivered", "contact rate", "calls", "conversations", "RPC rate"],
            [
                [
                    f"{h.hour:02d}:00",
                    count(h.sends),
                    count(h.delivered),
                    percent(h.contact_rate),
                    count(h.calls),
                    count(h.conversations),
                    percent(h.rpc_rate),
                ]
                for h in total.hours
            ],
            [f"{count(self.report.hours_unknown)} sends to debtors with no known zone are left out."],
        )
        return Section("hours", "Contact rate by local hour", [], [table])

    def breakdowns(self) -> list[Section]:
        sections = []
        for breakdown in self.report.breakdowns:
            if breakdown.dimension == "currency" and not self.by_currency:
                continue
            sections.append(self.breakdown(breakdown))
        return sections

    def breakdown(self, breakdown: Breakdown) -> Section:
        dimension = breakdown.dimension
        labels = [
            dimension,
            "accounts",
            "cure rate",
            "overdue ({currency})",
            "recovered ({currency})",
            "recovery rate",
            "cost to collect",
        ]
        rows = [
            [
                g.key,
                count(g.accounts),
                percent(g.cure_rate),
                money(g.overdue_at_entry_total),
                money(g.recovered_total),
                percent(g.recovery_rate),
                ratio(g.cost_to_collect),
            ]
            for g in breakdown.groups
        ]
        tables = [self.table(f"By {dimension}", labels, rows)]
        if dimension == "currency":
            tables.append(
                self.table(
                    "By currency, as booked",
                    ["currency", "overdue (booked)", "recovered (booked)"],
                    [[g.key, booked(g.overdue_at_entry), booked(g.recovered)] for g in breakdown.groups],
                )
            )
        return Section(f"by-{dimension}", f"By {dimension}", [], tables)

    def escalations(self) -> Section:
        table = self.table(
            "Escalations by kind",
            ["kind", "count"],
            [[kind, count(n)] for kind, n in self.report.total.escalations.items()],
        )
        return Section("escalations", "Escalations", [], [table])

    def compliance(self) -> Section:
        compliance = self.report.compliance
        decisions = self.table(
            "Compliance decisions",
            ["decision", "decisions"],
            [[d, count(n)] for d, n in compliance.decisions.items()],
        )
        reasons = self.table(
            "Compliance decisions by reason",
            ["decision", "reason", "with reason", "share"],
            [[c.decision, c.reason, count(c.count), percent(c.share)] for c in compliance.by_reason],
            [
                f"{count(compliance.several_reasons)} decisions carry several reasons, so the reason counts "
                "of a decision kind may add up to more than its decisions."
            ],
        )
        return Section("compliance", "Compliance decisions", [], [decisions, reasons])

    def rates(self) -> Section:
        fx = self.report.fx
        table = self.table(
            f"Exchange rates used (into {fx.currency})",
            ["currency", "applies from", "rate", "amounts"],
            [[r.currency, r.applies_from.isoformat(), f"{r.rate}", count(r.amounts)] for r in fx.rates],
        )
        return Section("rates", "Exchange rates", [f"From {fx.source}: {fx.description}."], [table])

    def audited(self, audit: AuditResult) -> Section:
        paragraphs = [
            f"Audit: {count(audit.sends)} sends checked, {count(len(audit.violations))} violations."
        ]
        tables = []
        if audit.violations:
            tables.append(
                Table(
                    "Violations",
                    [
                        Figure(label, definition)
                        for label, definition in (
                            ("rule", "the invariant broken"),
                            ("debtor", "debtor id"),
                            ("request", "request id"),
                            ("channel", "the contact's channel"),
                            ("to", "destination, masked"),
                            ("at", "when it happened"),
                            ("detail", "what the audit found"),
                        )
                    ],
                    [
                        [
                            v.rule,
                            v.debtor_id,
                            v.request_id,
                            v.channel,
                            v.destination,
                            v.at.isoformat(),
                            v.detail,
                        ]
                        for v in audit.violations
                    ],
                )
            )
        return Section("audit", "Independent audit of the event log", paragraphs, tables)


def sections(report: Report, audit: AuditResult | None = None, *, by_currency: bool = False) -> list[Section]:
    return _Layout(report, audit, by_currency).sections()
