"""The report as plain text for a terminal: with the HTML view, the only place numbers are formatted."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from services.reporting.audit import AuditResult
from services.reporting.model import ArmStats, ChannelStats, Money, Report

CENT = Decimal("0.01")


def money(amounts: Money) -> str:
    """``1,234.50 USD; 88.00 CNY``, or ``-`` when there is none."""
    return "; ".join(f"{amount.quantize(CENT):,} {currency}" for currency, amount in amounts.items()) or "-"


def ratio(amounts: Money) -> str:
    """Cost to collect, per currency: cost as a percentage of the amount recovered."""
    return "; ".join(f"{amount * 100:.3f}% {currency}" for currency, amount in amounts.items()) or "-"


def percent(rate: Decimal | None) -> str:
    return "-" if rate is None else f"{(rate * 100).quantize(Decimal('0.1'))}%"


def days(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}"


def arm_row(arm: ArmStats) -> list[str]:
    return [
        arm.arm,
        str(arm.accounts),
        str(arm.attempted),
        str(arm.delivered),
        percent(arm.rpc_rate),
        percent(arm.promise_rate),
        percent(arm.kept_rate),
        percent(arm.cure_rate),
        money(arm.recovered),
        ratio(arm.recovery_rate),
        days(arm.median_days_to_recovery),
        money(arm.cost),
        ratio(arm.cost_to_collect),
    ]


ARM_HEADER = [
    "arm",
    "accounts",
    "attempted",
    "delivered",
    "RPC rate",
    "promise rate",
    "kept rate",
    "cure rate",
    "recovered",
    "recovery rate",
    "median days",
    "cost",
    "cost to collect",
]
CHANNEL_HEADER = [
    "channel",
    "requested",
    "approved",
    "attempted",
    "delivered",
    "RPC rate",
    "cost",
    "promises*",
    "recovered*",
    "cost to collect*",
]


def channel_row(stats: ChannelStats, label: str | None = None) -> list[str]:
    return [
        label or stats.channel,
        str(stats.requested),
        str(stats.approved),
        str(stats.attempted),
        str(stats.delivered),
        percent(stats.rpc_rate),
        money(stats.cost),
        str(stats.promises),
        money(stats.recovered),
        ratio(stats.cost_to_collect),
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def render_text(report: Report, audit: AuditResult | None = None) -> str:
    as_of = report.as_of.isoformat() if report.as_of else "-"
    parts = [
        f"Collection effectiveness as of {as_of} ({report.events} events; promises judged "
        f"{report.grace_days} days after their date)",
        "",
        "Per strategy arm",
        table(ARM_HEADER, [arm_row(a) for a in [*report.arms, report.total]]),
        "",
        "Per channel",
        table(CHANNEL_HEADER, [channel_row(c) for c in report.channels]),
        "* attributed to the channel of the debtor's last send before the promise or payment",
        "",
        "Per arm and channel",
        table(
            ["arm", *CHANNEL_HEADER],
            [
                [arm.arm, *channel_row(c)]
                for arm in report.arms
                for c in arm.channels
                if c.requested or c.attempted
            ],
        ),
        "",
        "Contacts by outcome",
        table(
            ["channel", "outcome", "requests"],
            [[c.channel, outcome, str(n)] for c in report.channels for outcome, n in c.outcomes.items()],
        ),
        "",
        "Escalations: "
        + (", ".join(f"{kind} {n}" for kind, n in report.total.escalations.items()) or "none"),
        "",
        "Compliance decisions: "
        + (", ".join(f"{d} {n}" for d, n in report.compliance.decisions.items()) or "none"),
        table(
            ["decision", "reason", "count"],
            [[c.decision, c.reason, str(c.count)] for c in report.compliance.by_reason],
        ),
    ]
    if audit is not None:
        parts += ["", audit_text(audit)]
    return "\n".join(parts) + "\n"


def audit_text(audit: AuditResult) -> str:
    lines = [f"Audit: {audit.sends} sends checked, {len(audit.violations)} violations"]
    lines += [f"  {v.line()}" for v in audit.violations]
    return "\n".join(lines)
