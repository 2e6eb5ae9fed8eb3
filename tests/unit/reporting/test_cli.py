"""The report command's options, run on a hand-built log (the broker read is replaced by the log itself)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from schemas.topics import topic_for
from services.core.cli import build
from services.core.settings import ConfigError
from services.reporting import cli
from services.reporting.provenance import LogRecord
from tests.unit.reporting.test_compute import portfolio


def run(*argv: str) -> int:
    args = build("collections reporting", cli.COMMANDS).parse_args(["report", *argv])
    records = [
        LogRecord(topic_for(e.event), topic_for(e.event), None, None, (), e) for e in portfolio().envelopes
    ]
    return cli._report(args, records)


def test_options_reach_the_report_and_the_json_matches_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, page = tmp_path / "report.json", tmp_path / "report.html"
    code = run(
        "--split", "champion=50,early-voice=50", "--by-currency", "--json", str(document), "--html", str(page)
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "split configured in --split" in printed
    assert "By currency, as booked" in printed and "By currency, as booked" in page.read_text()
    report = orjson.loads(document.read_bytes())["report"]
    assert report["currency"] == "USD"
    assert report["total"]["recovered"] == {"GBP": "500", "USD": "1000"}
    assert report["total"]["recovered_total"] == "1637.5000"  # 500 GBP at the shipped 1.2750
    assert report["sample_ratio"]["configured"] == {"champion": "50", "early-voice": "50"}
    assert [t["kpi"] for t in report["comparisons"][0]["tests"]] == [
        "cure rate",
        "promise rate",
        "kept-promise rate",
        "RPC rate",
        "recovered share per account",
        "cost per account",
    ]
    assert report["fx"]["rates"] == [
        {"currency": "GBP", "applies_from": "2026-06-01", "rate": "1.2750", "amounts": 2}
    ]


def test_another_reporting_currency(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--currency", "GBP") == 0
    assert "amounts in GBP" in capsys.readouterr().out


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="--split: arm shares must add up to 100"):
        run("--split", "champion=50,early-voice=20")
    with pytest.raises(ConfigError, match="no rates for reporting currency JPY"):
        run("--currency", "JPY")
