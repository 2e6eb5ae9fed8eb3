"""The Makefile says what it does: ``make help`` with its variables' values, ``make down`` claiming to stop a
broker only if one ran."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.core.settings import REPO_ROOT


def make(*args: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_help_shows_the_port_the_broker_would_use() -> None:
    assert "$(" not in make("help")
    [up] = [line for line in make("help", "KAFKA_PORT=19092").splitlines() if line.split()[0] == "up"]
    assert "127.0.0.1:19092" in up


def test_down_without_a_broker_says_none_ran(tmp_path: Path) -> None:
    said = make("down", f"KAFKA_DIR={tmp_path / 'kafka'}")
    assert said.strip() == f"kafka was not running (data in {tmp_path / 'kafka'})"
