"""What a refused command looks like, for the tests that run commands as an operator would."""

from __future__ import annotations

import subprocess


def refused(result: subprocess.CompletedProcess[str], *named: str) -> str:
    """The one line of a refused command, checked to name each of ``named``."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    for name in named:
        assert name in line
    return line


def refused_to_start(result: subprocess.CompletedProcess[str], *named: str) -> str:
    """A service's ``run`` logs as it starts: its last line says why it stopped, and nothing is left open."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr and "never awaited" not in result.stderr
    line = result.stderr.splitlines()[-1]
    for name in named:
        assert name in line
    return line
