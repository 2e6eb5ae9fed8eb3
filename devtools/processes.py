"""Start, watch and stop the platform's processes for the demo and for tests that kill things."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from services.core.settings import REPO_ROOT

# Prefixes of the settings the services read from the environment.
SETTING_PREFIXES = ("COLLECTIONS_", "GATEKEEPER_", "ESCALATION_", "CHANNELS_", "WEBHOOKS_", "SANDBOX_")


@dataclass
class Service:
    """One service process; its output goes to ``logs/<name>.log``.

    With ``inherit_settings`` false, the services' settings in this process's own environment are not passed
    on: only ``env`` sets them."""

    name: str
    args: list[str]
    env: dict[str, str]
    ready_marker: str
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    ready_line: str = ""
    log_offset: int = 0  # where this run's output starts in a log shared with earlier runs
    inherit_settings: bool = True

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready (``wait_ready``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        inherited = dict(os.environ)
        if not self.inherit_settings:
            inherited = {k: v for k, v in inherited.items() if not k.startswith(SETTING_PREFIXES)}
        with self.log_path.open("ab") as log:
            self.log_offset = self.log_path.stat().st_size
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.args],
                cwd=REPO_ROOT,
                env=inherited | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the ready marker in what the process printed since ``launch``; fail if it exits first."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            with self.log_path.open("rb") as handle:
                handle.seek(self.log_offset)
                for line in handle.read().decode(errors="replace").splitlines():
                    if line.startswith(self.ready_marker):
                        self.ready_line = line
                        return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s; see {self.log_path}")

    def check(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}; see {self.log_path}:\n{self.tail()}"
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (drain and exit cleanly), SIGKILL if it does not exit in time."""
        if not self.alive():
            return
        assert self.process is not None
        terminate(self.process, timeout)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited after ``timeout`` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
