"""The HTML report in a real browser: Debian's headless Chromium driven by Playwright, at a desktop width and
at a phone's. No console error, no request leaves the file, every chart shows a mark for every arm, no label
or legend entry overlaps another, nothing is wider than the screen; screenshots go to var/screenshots/.

Needs /usr/bin/chromium (``make chromium``, or ``apt-get install chromium``); skipped, saying so, without it.
Starts no broker: the report comes from a log built by hand.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus
from services.core.settings import REPO_ROOT
from services.reporting.audit import audit
from services.reporting.compute import compute
from services.reporting.html import render_html
from tests.unit.reporting.logbook import LA_PHONE, Logbook, utc
from tests.unit.reporting.test_compute import EXPERIMENT, FX

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
ARMS = ("champion", "early-voice")
S = OutcomeStatus

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is not installed: `make chromium` (root) or `apt-get install chromium`",
)


def portfolio() -> Logbook:
    """Both arms with data for every chart: all channels, promises, payments, cures, two buckets, pounds."""
    log = Logbook()
    for index in range(6):
        arm = ARMS[index % 2]
        debtor = f"b{index}"
        log.profile(debtor, utc(1, 12), phones=(LA_PHONE,) if index % 3 == 0 else ("+12125550100",))
        currency = "GBP" if index == 5 else "USD"
        log.overdue(debtor, utc(2, 2), dpd=20 + index * 3, balance=str(900 + 150 * index), currency=currency)
        log.contact(debtor, utc(2, 14 + index), Channel.SMS, (S.SENT, S.DELIVERED), arm=arm, cost="0.0079")
        log.contact(debtor, utc(3, 15), Channel.EMAIL, (S.SENT,), arm=arm, template="second_reminder")
        answered = S.CONVERSATION if index < 4 else S.VOICEMAIL
        log.contact(debtor, utc(4, 16 + index), Channel.VOICE, (S.SENT, answered), arm=arm, cost="0.0140")
        log.contact(debtor, utc(5, 16), Channel.VOICE, (S.SENT, S.BLOCKED), arm=arm, template="call")
        log.overdue(debtor, utc(12, 2), dpd=30 + index * 3, balance=str(900 + 150 * index), currency=currency)
        if index < 4:
            log.promise(debtor, utc(4, 20), "100", date(2026, 6, 9))
            log.payment(debtor, utc(8, 15), str(300 + index * 50), after="400", currency=currency)
        if index in (0, 1, 3):
            log.status(debtor, utc(9, 10), ev.AccountStatus.CURED)
    return log


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = portfolio()
    path = tmp_path_factory.mktemp("report") / "report.html"
    report = compute(log.envelopes, fx=FX, experiment=EXPERIMENT)
    path.write_text(render_html(report, audit(log.envelopes), by_currency=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
        # A fresh profile directory every run: nothing cached or remembered from another run.
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            yield context
        finally:
            context.close()


OVERLAPS = """
(figure) => {
  const boxes = [...figure.querySelectorAll('svg text, ul.legend li')].map((node) => {
    const r = node.getBoundingClientRect();
    return {text: node.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  });
  const found = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const tol = 0.5;
      const across = a.left < b.right - tol && b.left < a.right - tol;
      if (across && a.top < b.bottom - tol && b.top < a.bottom - tol) {
        found.push(`${a.text} / ${b.text}`);
      }
    }
  }
  const svg = figure.querySelector('svg').getBoundingClientRect();
  const outside = [...figure.querySelectorAll('svg text')].filter((node) => {
    const r = node.getBoundingClientRect();
    return r.left < svg.left - 0.5 || r.right > svg.right + 0.5
      || r.top < svg.top - 0.5 || r.bottom > svg.bottom + 0.5;
  }).map((node) => node.textContent);
  return {overlaps: found, outside: outside};
}
"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_renders_cleanly(browser: Any, report_file: Path, width: int) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_file.as_uri(), wait_until="load")

    assert problems == []
    assert requests == [report_file.as_uri()]  # the file itself, nothing else
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    figures = page.query_selector_all("figure.chart")
    assert len(figures) == 7
    for figure in figures:
        title = figure.query_selector("figcaption").inner_text()
        for arm in ARMS:
            marks = figure.query_selector_all(f'.mark[data-arm="{arm}"]')
            assert marks, f"{title}: no mark for {arm}"
            assert any((box := m.bounding_box()) and box["width"] > 0 and box["height"] > 0 for m in marks)
        legend = [item.inner_text() for item in figure.query_selector_all("ul.legend li")]
        assert legend, f"{title}: no legend"
        laid_out = figure.evaluate(OVERLAPS)
        assert laid_out["overlaps"] == [], f"{title} at {width}px"
        assert laid_out["outside"] == [], f"{title} at {width}px"
        tick = figure.query_selector("svg text.tick").bounding_box()
        assert tick is not None and tick["height"] >= 10, f"{title}: labels too small at {width}px"

    captions = [c.inner_text().strip() for c in page.query_selector_all("table > caption")]
    assert len(captions) == len(page.query_selector_all("table")) >= 20
    assert all(captions)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"report-{width}.png"), full_page=True)
    page.close()
