"""The demo, run as a user runs it: the same seed and size give the same report, and its event log stays
readable once it has stopped (``up`` serves its broker again, the reporting commands read it, ``down`` stops
it).

Two small seeded runs, one after the other, each on its own broker (any free port), at the smallest size and
length that still has payments, promises and sends on every channel.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.core.settings import REPO_ROOT

SIZE, DAYS, SEED = 100, 4, 7

pytestmark = pytest.mark.timeout(420)


def demo(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.demo", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    outs = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(name)
        played = demo("--size", str(SIZE), "--days", str(DAYS), "--seed", str(SEED), "--out", str(out),
                      "--kafka-port", "0")  # fmt: skip
        # Exit 1 is "ran and found problems" (an audit finding): the figures are still to compare.
        assert played.returncode in (0, 1), played.stderr[-3000:]
        (out / "stdout.txt").write_text(played.stdout)
        (out / "stderr.txt").write_text(played.stderr)
        outs.append(out)
    return outs


def report(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads((out / "report.json").read_bytes())
    return document


def test_the_same_seed_gives_the_same_figures(runs: list[Path]) -> None:
    first, second = (report(out)["report"] for out in runs)
    total = first["total"]
    assert total["promises"] > 0 and total["recovered"], "too small a run to say anything"
    assert {c["channel"] for c in total["channels"] if c["attempted"] > 0} == {"sms", "email", "voice"}
    # The number of records may differ: escalation cancels requests it has not yet seen end (the README).
    for section in set(first) - {"events"}:
        assert first[section] == second[section], f"the report's {section!r} differs between two runs"
    assert report(runs[0])["audit"] == report(runs[1])["audit"]


def test_progress_is_plain_lines_with_share_and_time_left_when_not_a_terminal(runs: list[Path]) -> None:
    lines = (runs[0] / "stderr.txt").read_text().splitlines()
    progress = [line for line in lines if line.startswith("day ")]
    assert len(progress) == DAYS  # a tenth of 4 days is less than a day: one line each
    assert progress[-1].startswith(f"day {DAYS}/{DAYS} (100%)  elapsed ")
    assert all("left ~" in line and "\r" not in line for line in progress)
    last = progress[-1].split("recovered ", 1)[1]
    assert "USD " in last and "CNY " in last  # one amount per currency, never their sum


def test_the_event_log_stays_readable_after_the_demo(runs: list[Path]) -> None:
    out = runs[0]
    stdout = (out / "stdout.txt").read_text()
    assert "metrics endpoints" not in stdout  # dead once the demo has stopped its services
    assert f"devtools.demo up --out {out}" in stdout
    assert (out / "kafka" / "data" / "meta.properties").exists()

    up = demo("up", "--out", str(out), timeout=150)
    try:
        assert up.returncode == 0, up.stderr
        assert "collections reporting history D000042" in up.stdout
        exported = demo("env", "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        exports = [shlex.split(line)[1].split("=", 1) for line in exported.stdout.splitlines()]
        env = os.environ | dict(exports)
        history = subprocess.run(
            [sys.executable, "-m", "services.cli", "reporting", "history", "D000042"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert history.returncode == 0, history.stderr
        assert "overdue" in history.stdout and "request" in history.stdout
        audited = subprocess.run(
            [sys.executable, "-m", "services.cli", "reporting", "audit", "--json", str(out / "audit.json")],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert audited.returncode in (0, 1), audited.stderr
        assert orjson.loads((out / "audit.json").read_bytes())["audit"] == report(out)["audit"]
    finally:
        down = demo("down", "--out", str(out))
    assert down.returncode == 0, down.stderr
    assert (out / "kafka" / "data" / "meta.properties").exists()
