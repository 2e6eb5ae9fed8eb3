"""``python -m devtools.localkafka`` as ``make up`` and ``make down`` run it: a broker directory started again
listens on the port asked, a start that cannot succeed leaves no broker running, and stop says what it did."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from devtools.kafkasecurity import Credentials
from devtools.localkafka import free_port, metadata_ok
from services.core.settings import REPO_ROOT


def localkafka(command: str, directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.localkafka", command, "--dir", str(directory), *options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_started_again_directory_listens_on_the_port_asked(tmp_path: Path) -> None:
    directory = tmp_path / "kafka"
    first, second = free_port(), free_port()
    try:
        started = localkafka("start", directory, "--port", str(first))
        assert started.returncode == 0, started.stderr
        assert localkafka("stop", directory).stdout.startswith("kafka stopped (pid ")

        again = localkafka("start", directory, "--port", str(second))
        assert again.returncode == 0, again.stderr
        assert f"kafka ready on 127.0.0.1:{second}" in again.stdout
        credentials = Credentials.read(directory / "credentials.json")
        assert credentials.bootstrap == f"127.0.0.1:{second}"
        assert asyncio.run(metadata_ok(credentials.settings("admin")))
        env = localkafka("env", directory, "--principal", "operator").stdout
        assert f"export COLLECTIONS_KAFKA_BOOTSTRAP=127.0.0.1:{second}" in env.splitlines()

        # Asked for another port while it runs: refused, naming the port it runs on.
        running = localkafka("start", directory, "--port", str(first))
        assert running.returncode == 2
        [line] = running.stderr.splitlines()
        assert "already runs" in line and f"127.0.0.1:{second}, not on {first}" in line
    finally:
        localkafka("stop", directory)
    stopped = localkafka("stop", directory)
    assert stopped.returncode == 0
    assert stopped.stdout.startswith("kafka was not running")


def test_a_start_on_a_port_in_use_fails_and_leaves_no_broker(tmp_path: Path) -> None:
    directory = tmp_path / "kafka"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = localkafka("start", directory, "--port", str(port), "--insecure")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert f"port {port} on 127.0.0.1 is in use" in line
    status = localkafka("status", directory)
    assert (status.returncode, status.stdout.strip()) == (1, "kafka not running")
