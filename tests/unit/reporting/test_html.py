"""The HTML report is one self-contained file: tables and inline SVG charts, nothing fetched, no script."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from services.reporting.audit import audit
from services.reporting.compute import compute
from services.reporting.html import render_html
from services.reporting.render import render_text
from tests.unit.reporting.test_compute import portfolio


def test_self_contained_with_the_three_charts() -> None:
    log = portfolio()
    page = render_html(compute(log.envelopes), audit(log.envelopes))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=""", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    titles = [ElementTree.fromstring(svg).findtext("{http://www.w3.org/2000/svg}title") for svg in svgs]
    assert titles == [
        "Cumulative amount recovered, GBP",
        "Cumulative amount recovered, USD",
        "Requests by channel and final outcome",
        "Cost per channel, USD",
    ]
    assert page.count("<polyline") == 2  # GBP: the unassigned arm; USD: champion (early-voice got nothing)
    assert "Independent audit of the event log" in page
    assert "sends checked, 0 violations" in page


def test_an_empty_report_renders() -> None:
    page = render_html(compute([]))
    assert "Nothing recovered yet." in page
    assert "No cost recorded." in page
    assert "Per strategy arm" in render_text(compute([]))


def test_text_report_formats_money_and_rates() -> None:
    log = portfolio()
    text = render_text(compute(log.envelopes), audit(log.envelopes))
    assert "1,000.00 USD" in text
    assert "33.3%" in text
    assert "Audit: 5 sends checked, 0 violations" in text
