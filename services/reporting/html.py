"""The report as one self-contained HTML file: the sections of ``views`` with inline SVG charts, rendered by
the Jinja2 template ``templates/report.html.j2`` with autoescape. No script, no external asset, no request.

Charts, each with one series per strategy arm: recovered and cured shares by day since entering
collections, roll rate by days-past-due bucket, the contact funnel (share of requests reaching each stage),
requests by channel, arm and final outcome, cost per account by channel, contact rate by local hour.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import jinja2

from services.reporting import charts
from services.reporting.audit import AuditResult
from services.reporting.charts import Chart
from services.reporting.model import ArmStats, Report
from services.reporting.views import sections

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

STAGES = ("requested", "approved", "attempted", "delivered", "right_party", "promised", "paid")


def render_html(report: Report, audit: AuditResult | None = None, *, by_currency: bool = False) -> str:
    as_of = report.as_of.isoformat() if report.as_of else "-"
    heading = (
        f"As of {as_of}, from {report.events:,} events. Amounts in {report.currency}. Promises are judged "
        f"{report.grace_days} days after their date. Every figure's definition is under its table; "
        "docs/reporting.md says more."
    )
    return _TEMPLATES.get_template("report.html.j2").render(
        heading=heading,
        sections=sections(report, audit, by_currency=by_currency),
        charts_for=_charts(report),
        font=charts.FONT,
        audit_class="ok" if audit is None or not audit.violations else "bad",
    )


def _percent_axis(value: Decimal) -> str:
    """Ticks are nice numbers already: print them exactly (0.5%, 40%), never rounded into each other."""
    return f"{(value * 100).normalize():f}%"


def _money_axis(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _charts(report: Report) -> dict[str, list[Chart]]:
    arms = report.arms
    found: dict[str, list[Chart]] = {
        "curves": [
            charts.line_chart(
                "recovered-share",
                "Recovered share by day since entering collections",
                f"Recovered / overdue at entry ({report.currency}), over the accounts observed that long.",
                [(a.arm, [(p.day, p.recovered_share) for p in a.curve]) for a in arms],
                _percent_axis,
                "recovered share",
                "days since entering collections",
            ),
            charts.line_chart(
                "cured-share",
                "Cured share by day since entering collections",
                "Cured accounts / accounts observed that long.",
                [(a.arm, [(p.day, p.cure_share) for p in a.curve]) for a in arms],
                _percent_axis,
                "cured share",
                "days since entering collections",
            ),
        ],
        "buckets": [_roll_chart(arms)],
        "funnel": [_funnel_chart(arms)],
        "economics": [_cost_chart(arms, report.currency)],
        "outcomes": [_outcome_chart(arms)],
        "hours": [_hour_chart(arms)],
    }
    return found


def _roll_chart(arms: list[ArmStats]) -> Chart:
    buckets = [b.bucket for b in (arms[0].buckets if arms else [])]
    reached = [i for i, _ in enumerate(buckets) if any(a.buckets[i].accounts for a in arms)]
    return charts.bar_chart(
        "roll-rate",
        "Roll rate by days-past-due bucket",
        "Accounts that reached the bucket and then a worse one / accounts that reached it.",
        [buckets[i] for i in reached],
        [(a.arm, [a.buckets[i].roll_rate for i in reached]) for a in arms],
        _percent_axis,
        "roll rate",
        "days past due",
    )


def _funnel_chart(arms: list[ArmStats]) -> Chart:
    def shares(arm: ArmStats) -> list[Decimal | None]:
        requested = sum(c.requested for c in arm.channels)
        if not requested:
            return [None] * len(STAGES)
        return [Decimal(sum(getattr(c, stage) for c in arm.channels)) / requested for stage in STAGES]

    return charts.row_bars(
        "funnel",
        "Contact funnel, all channels",
        "Share of requests reaching each stage (right party: a conversation or a reply).",
        [s.replace("_", " ").replace("promised", "promise") for s in STAGES],
        [(a.arm, shares(a)) for a in arms],
        _percent_axis,
        "share of requests",
    )


def _cost_chart(arms: list[ArmStats], currency: str) -> Chart:
    channels = [c.channel for c in (arms[0].channels if arms else [])]
    return charts.bar_chart(
        "cost-per-account",
        f"Cost per account by channel ({currency})",
        "The channel's provider cost in the arm / the arm's accounts.",
        channels,
        [(a.arm, [c.cost_total / a.accounts if a.accounts else None for c in a.channels]) for a in arms],
        _money_axis,
        f"{currency} per account",
        "channel",
    )


def _outcome_chart(arms: list[ArmStats]) -> Chart:
    rows = [
        (f"{c.channel} · {a.arm}", a.arm, c.outcomes)
        for c_index in range(len(arms[0].channels) if arms else 0)
        for a in arms
        if (c := a.channels[c_index]).outcomes
    ]
    return charts.stacked_rows(
        "outcomes",
        "Requests by channel, arm and final outcome",
        "Each bar is one channel in one arm, split by the final outcome of its requests.",
        rows,
        charts.OUTCOME_COLOURS,
        "requests",
    )


def _hour_chart(arms: list[ArmStats]) -> Chart:
    def by_hour(arm: ArmStats) -> list[Decimal | None]:
        rates = {h.hour: h.contact_rate for h in arm.hours}
        return [rates.get(hour) for hour in range(24)]

    return charts.bar_chart(
        "contact-rate-by-hour",
        "Contact rate by the debtor's local hour",
        "Delivered / sends in each local hour; no bar: no send in that hour.",
        [str(hour) for hour in range(24)],
        [(a.arm, by_hour(a)) for a in arms],
        _percent_axis,
        "contact rate",
        "local hour",
    )
