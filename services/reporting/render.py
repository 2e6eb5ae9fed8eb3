"""The report as plain text for a terminal: the sections of ``views``, each table followed by the definition
of every column, no line longer than ``WIDTH``. A table too wide for that is printed as one block per row."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from services.reporting.audit import AuditResult
from services.reporting.model import Report
from services.reporting.views import Section, Table, sections

WIDTH = 100


def render_text(report: Report, audit: AuditResult | None = None, *, by_currency: bool = False) -> str:
    as_of = report.as_of.isoformat() if report.as_of else "-"
    head = (
        f"Collection effectiveness as of {as_of} ({report.events:,} events; amounts in {report.currency}; "
        f"promises judged {report.grace_days} days after their date)"
    )
    parts = [_wrap(head)]
    for section in sections(report, audit, by_currency=by_currency):
        parts.append(_section(section))
    return "\n\n".join(parts) + "\n"


def _section(section: Section) -> str:
    lines = [section.title, "=" * len(section.title)]
    for paragraph in section.paragraphs:
        lines.append(_wrap(paragraph))
    for table in section.tables:
        lines += ["", _table(table)]
    return "\n".join(lines)


def _table(table: Table) -> str:
    lines = [table.caption, "-" * len(table.caption)]
    header = [column.label for column in table.columns]
    grid = _grid(header, table.rows, table.numeric)
    if max((len(line) for line in grid), default=0) <= WIDTH:
        lines += grid
    else:
        lines += _blocks(header, table.rows)
    if not table.rows:
        lines.append("(none)")
    for note in table.notes:
        lines.append(_wrap(note))
    lines.append(_wrap("Definitions:"))
    for column in table.definitions:
        lines.append(_wrap(f"{column.label}: {column.definition}", indent="  ", hanging="    "))
    return "\n".join(lines)


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(w) if right[i] else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def _blocks(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = []
    for row in rows:
        lines.append(row[0])
        fields = "; ".join(f"{name}: {value}" for name, value in zip(header[1:], row[1:], strict=True))
        lines.append(_wrap(fields, indent="  ", hanging="  "))
    return lines


def _wrap(text: str, indent: str = "", hanging: str = "") -> str:
    return textwrap.fill(
        text, WIDTH, initial_indent=indent, subsequent_indent=hanging or indent, break_on_hyphens=False
    )


def audit_text(audit: AuditResult) -> str:
    lines = [f"Audit: {audit.sends} sends checked, {len(audit.violations)} violations"]
    lines += [f"  {v.line()}" for v in audit.violations]
    return "\n".join(lines)
