"""The HTML report is one self-contained file rendered by Jinja2 with autoescape: tables with captions and
definitions, inline SVG charts with a mark per arm, nothing fetched, no script. The text report keeps every
line within 100 characters."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from xml.etree import ElementTree

from schemas import events as ev
from services.core.settings import REPO_ROOT
from services.reporting.audit import audit
from services.reporting.charts import OUTCOME_COLOURS
from services.reporting.compute import compute
from services.reporting.definitions import FIGURES, define
from services.reporting.html import render_html
from services.reporting.render import WIDTH, render_text
from tests.unit.reporting.logbook import utc
from tests.unit.reporting.test_compute import EXPERIMENT, FX, portfolio

SVG = "{http://www.w3.org/2000/svg}"
CHARTS = [
    "Recovered share by day since entering collections",
    "Cured share by day since entering collections",
    "Roll rate by days-past-due bucket",
    "Contact funnel, all channels",
    "Cost per account by channel (USD)",
    "Requests by channel, arm and final outcome",
    "Contact rate by the debtor's local hour",
]


def page() -> str:
    log = portfolio()
    return render_html(compute(log.envelopes, fx=FX, experiment=EXPERIMENT), audit(log.envelopes))


def test_self_contained_with_every_chart() -> None:
    html = page()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=""", html)
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count("<svg")
    svgs = [ElementTree.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S)]
    assert [svg.findtext(f"{SVG}title") for svg in svgs] == CHARTS
    assert "Independent audit of the event log" in html
    assert "5 sends checked, 0 violations" in html


def test_every_chart_has_a_mark_for_every_arm_it_has_data_for() -> None:
    html = page()
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        tree = ElementTree.fromstring(svg)
        arms = {mark.get("data-arm") for mark in tree.iter() if mark.get("class") == "mark"}
        title = tree.findtext(f"{SVG}title")
        # The unassigned debtor was never contacted: no funnel, outcome or hour marks (its cost is a zero).
        with_unassigned = [*CHARTS[:3], CHARTS[4]]
        expected = {"champion", "early-voice"} | ({"unassigned"} if title in with_unassigned else set())
        assert arms == expected, title


def test_every_table_has_a_caption_a_header_and_its_definitions() -> None:
    html = page()
    tables = re.findall(
        r"<table>.*?</table>\s*</div>\s*(?:<p class=\"note\">.*?</p>\s*)*<dl", html, flags=re.S
    )
    assert len(tables) == html.count("<table>") >= 20
    for table in tables:
        assert "<caption>" in table and '<th scope="col"' in table


def test_every_outcome_has_its_own_colour() -> None:
    assert len(set(OUTCOME_COLOURS.values())) == len(OUTCOME_COLOURS)
    assert set(OUTCOME_COLOURS) == {status.value for status in ev.OutcomeStatus} | {"pending"}
    assert OUTCOME_COLOURS["blocked"] != OUTCOME_COLOURS["voicemail"]


def test_text_from_the_log_is_escaped() -> None:
    log = portfolio()
    log.add(
        ev.AccountOverdue(
            debtor_id="d9",
            account_id="a9",
            product="<img src=x onerror=alert(1)>",
            currency="USD",
            amount_due=Decimal(1),
            total_outstanding=Decimal(10),
            days_past_due=3,
            due_date=date(2026, 5, 30),
            as_of=utc(2, 2),
        ),
        utc(2, 2),
    )
    html = render_html(compute(log.envelopes, fx=FX, experiment=EXPERIMENT))
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_empty_report_renders() -> None:
    empty = compute([], fx=FX, experiment=EXPERIMENT)
    html = render_html(empty)
    assert html.count("<svg") == len(CHARTS)
    assert "No comparison" in html
    assert "Per strategy arm" in render_text(empty)


def test_text_report_formats_money_and_rates_within_its_width() -> None:
    log = portfolio()
    text = render_text(
        compute(log.envelopes, fx=FX, experiment=EXPERIMENT), audit(log.envelopes), by_currency=True
    )
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    champion = next(line for line in text.splitlines() if line.startswith("champion ") and "1,000.00" in line)
    assert champion.split() == ["champion", "3,000.00", "1,000.00", "33.3%", "0.02", "0.002%"]
    assert "recovered (USD): payments posted on accounts in collections at or after entry" in text
    assert "500.00 GBP; 3,900.00 USD" in text  # as booked, only with --by-currency
    assert "Audit: 5 sends checked, 0 violations" in text
    assert "500.00 GBP" not in render_text(compute(log.envelopes, fx=FX, experiment=EXPERIMENT))


def test_every_definition_is_written_out_in_the_docs() -> None:
    docs = (REPO_ROOT / "docs" / "reporting.md").read_text(encoding="utf-8")
    for label in FIGURES:
        figure = define(label, "CUR")
        assert f"| {figure.label} | {figure.definition} |" in docs, figure.label
