"""Start, watch and stop the platform's processes for the demo and for tests that kill things."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.core.settings import REPO_ROOT


@dataclass
class Service:
    """One service process; its output goes to ``logs/<name>.log``."""

    name: str
    args: list[str]
    env: dict[str, str]
    ready_marker: str
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    ready_line: str = ""
    _offset: int = field(default=0, repr=False)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready (``wait_ready``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.args],
            cwd=REPO_ROOT,
            env=os.environ | self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the ready marker in what the process printed since ``launch``; fail if it exits first."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}:\n{self.tail()}"
                )
            with self.log_path.open("rb") as handle:
                handle.seek(self._offset)
                for line in handle.read().decode(errors="replace").splitlines():
                    if line.startswith(self.ready_marker):
                        self.ready_line = line
                        return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s; see {self.log_path}")

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
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
