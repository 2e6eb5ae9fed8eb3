"""The report as one self-contained HTML file: tables and inline SVG charts, no script, no external asset.

Charts: recovery curves by strategy arm (cumulative amount recovered by day since entering collections, one
chart per currency), contacts by channel and outcome (stacked bars), cost per channel (bars per currency).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from html import escape

from services.reporting.audit import AuditResult
from services.reporting.model import Report
from services.reporting.render import (
    ARM_HEADER,
    CENT,
    CHANNEL_HEADER,
    arm_row,
    channel_row,
)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 80, 150, 30, 40

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
svg { display: block; margin: 0.5em 0 1.5em; }
svg text { font-size: 11px; }
.ok { color: #2ca02c; } .bad { color: #d62728; }
"""


def render_html(report: Report, audit: AuditResult | None = None) -> str:
    as_of = report.as_of.isoformat() if report.as_of else "-"
    body = [
        "<h1>Collection effectiveness</h1>",
        f"<p>As of {escape(as_of)}, from {report.events} events. Promises are judged "
        f"{report.grace_days} days after their date. Definitions: docs/operations.md.</p>",
        "<h2>Per strategy arm</h2>",
        _table(ARM_HEADER, [arm_row(a) for a in [*report.arms, report.total]]),
        "<h2>Recovery curves by strategy arm</h2>",
        *_recovery_charts(report),
        "<h2>Per channel</h2>",
        _table(CHANNEL_HEADER, [channel_row(c) for c in report.channels]),
        "<p>* attributed to the channel of the debtor's last send before the promise or payment.</p>",
        _table(
            ["arm", *CHANNEL_HEADER],
            [
                [arm.arm, *channel_row(c)]
                for arm in report.arms
                for c in arm.channels
                if c.requested or c.attempted
            ],
        ),
        "<h2>Contacts by channel and outcome</h2>",
        _stacked_bars({c.channel: c.outcomes for c in report.channels}),
        "<h2>Cost per channel</h2>",
        *_cost_charts(report),
        "<h2>Escalations</h2>",
        _table(["kind", "count"], [[kind, str(n)] for kind, n in report.total.escalations.items()]),
        "<h2>Compliance decisions</h2>",
        _table(["decision", "count"], [[d, str(n)] for d, n in report.compliance.decisions.items()]),
        _table(
            ["decision", "reason", "count"],
            [[c.decision, c.reason, str(c.count)] for c in report.compliance.by_reason],
        ),
    ]
    if audit is not None:
        verdict = "ok" if not audit.violations else "bad"
        body += [
            "<h2>Independent audit of the event log</h2>",
            f'<p class="{verdict}">{audit.sends} sends checked, {len(audit.violations)} violations.</p>',
        ]
        if audit.violations:
            body.append(
                _table(
                    ["rule", "debtor", "request", "channel", "to", "at", "detail"],
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
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Collection effectiveness</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _svg(title: str, inner: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title><text x="{LEFT}" y="16" font-weight="bold">{escape(title)}</text>'
        + "".join(inner)
        + "</svg>"
    )


def _scale(value: Decimal, top: Decimal, pixels: int) -> Decimal:
    return (value / top * pixels).quantize(Decimal("0.1")) if top else Decimal(0)


def _axes(top: Decimal, x_label: str, y_label: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#444"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) // 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="12" y="{TOP + plot_h // 2}" transform="rotate(-90 12 {TOP + plot_h // 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for step in range(5):
        value = top * step / 4
        y = bottom - _scale(value, top, plot_h)
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{value.quantize(CENT):,}</text>'
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    x = WIDTH - RIGHT + 12
    return [
        f'<rect x="{x}" y="{TOP + 18 * i}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
        f'<text x="{x + 18}" y="{TOP + 18 * i + 10}">{escape(name)}</text>'
        for i, name in enumerate(names)
    ]


def _recovery_charts(report: Report) -> list[str]:
    curves: dict[str, dict[str, list[tuple[int, Decimal]]]] = defaultdict(lambda: defaultdict(list))
    for arm in report.arms:
        for point in arm.curve:
            curves[point.currency][arm.arm].append((point.day, point.recovered))
    if not curves:
        return ["<p>Nothing recovered yet.</p>"]
    charts = []
    plot_w, plot_h, bottom = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    for currency, arms in sorted(curves.items()):
        top = max(
            (amount for points in arms.values() for _, amount in points), default=Decimal(0)
        ) or Decimal(1)
        last = max((day for points in arms.values() for day, _ in points), default=0) or 1
        inner = _axes(top, "days since entering collections", f"recovered ({currency})")
        for i, (_, points) in enumerate(sorted(arms.items())):
            path = " ".join(
                f"{LEFT + _scale(Decimal(day), Decimal(last), plot_w)},{bottom - _scale(amount, top, plot_h)}"
                for day, amount in points
            )
            color = PALETTE[i % len(PALETTE)]
            inner.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for day in range(0, last + 1, max(1, last // 6)):
            x = LEFT + _scale(Decimal(day), Decimal(last), plot_w)
            inner.append(f'<text x="{x}" y="{bottom + 14}" text-anchor="middle">{day}</text>')
        inner += _legend(sorted(arms))
        charts.append(_svg(f"Cumulative amount recovered, {currency}", inner))
    return charts


def _stacked_bars(rows: dict[str, dict[str, int]]) -> str:
    outcomes = sorted({outcome for counts in rows.values() for outcome in counts})
    top = Decimal(max((sum(counts.values()) for counts in rows.values()), default=0) or 1)
    plot_w = WIDTH - LEFT - RIGHT
    inner = []
    for row, (channel, counts) in enumerate(rows.items()):
        y = TOP + 20 + row * 60
        x = Decimal(LEFT)
        inner.append(f'<text x="{LEFT - 6}" y="{y + 22}" text-anchor="end">{escape(channel)}</text>')
        for i, outcome in enumerate(outcomes):
            width = _scale(Decimal(counts.get(outcome, 0)), top, plot_w)
            if width:
                inner.append(
                    f'<rect x="{x}" y="{y}" width="{width}" height="36" fill="{PALETTE[i % len(PALETTE)]}">'
                    f"<title>{escape(channel)} {escape(outcome)}: {counts[outcome]}</title></rect>"
                )
            x += width
        inner.append(f'<text x="{x + 4}" y="{y + 22}">{sum(counts.values())}</text>')
    inner += _legend(outcomes)
    return _svg("Requests by channel and final outcome", inner)


def _cost_charts(report: Report) -> list[str]:
    costs: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for stats in report.channels:
        for currency, amount in stats.cost.items():
            costs[currency][stats.channel] = amount
    if not costs:
        return ["<p>No cost recorded.</p>"]
    charts = []
    plot_h, bottom = HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    for currency, by_channel in sorted(costs.items()):
        top = max(by_channel.values()) or Decimal(1)
        inner = _axes(top, "channel", f"cost ({currency})")
        for i, (channel, amount) in enumerate(sorted(by_channel.items())):
            height = _scale(amount, top, plot_h)
            x = LEFT + 30 + i * 120
            inner.append(
                f'<rect x="{x}" y="{bottom - height}" width="80" height="{height}" fill="{PALETTE[i]}">'
                f"<title>{escape(channel)}: {amount.quantize(CENT):,} {escape(currency)}</title></rect>"
                f'<text x="{x + 40}" y="{bottom + 14}" text-anchor="middle">{escape(channel)}</text>'
            )
        charts.append(_svg(f"Cost per channel, {currency}", inner))
    return charts
