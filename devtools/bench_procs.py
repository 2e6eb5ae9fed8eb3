"""Processes of the benchmark: start services with a clean environment, freeze and thaw them, and read what
the kernel says they cost (CPU seconds and resident memory from /proc), plus the machine's own load."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import Service
from services.core.settings import REPO_ROOT

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (all its threads), from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle since boot (every process, ours or not)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return (sum(values[:8]) - idle) / CLOCK_TICK


def directory_bytes(root: Path, prefix: str) -> int:
    """Bytes on disk of the partition folders under ``root`` whose name starts with ``prefix``."""
    total = 0
    for folder in root.glob(f"{prefix}*"):
        for item in folder.rglob("*"):
            if item.is_file():
                total += item.stat().st_blocks * 512
    return total


@dataclass(frozen=True, slots=True)
class CpuReading:
    wall: float
    processes: dict[str, float]
    machine: float


class CpuMeter:
    """CPU seconds of named processes between two readings, and of the rest of the machine."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {"bench": os.getpid()}

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def forget_pid(self, pid: int) -> None:
        self.pids = {name: known for name, known in self.pids.items() if known != pid}

    def read(self) -> CpuReading:
        processes = {}
        for name, pid in self.pids.items():
            try:
                processes[name] = cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        return CpuReading(time.time(), processes, machine_busy())

    @staticmethod
    def between(first: CpuReading, second: CpuReading) -> dict[str, float]:
        """CPU seconds per process between the readings; ``other`` is everything else on the machine."""
        spent = {
            name: round(second.processes[name] - first.processes[name], 2)
            for name in second.processes
            if name in first.processes
        }
        spent["other"] = round(max(0.0, second.machine - first.machine - sum(spent.values())), 2)
        return spent


@dataclass
class Proc(Service):
    """A ``python -m`` service with only the benchmark's settings in its environment, logging to a file, that
    can be frozen while a backlog is written."""

    inherit_settings: bool = False
    frozen: bool = False

    def start(self, timeout: float = 90.0) -> None:
        super().start(timeout)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its group membership and state while a backlog is written."""
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def stop(self, timeout: float = 30.0) -> None:
        """Thawed if frozen, then SIGTERM (drain and leave the group), SIGKILL if it does not exit in time."""
        if self.frozen and self.alive():
            self.thaw()
        super().stop(timeout)

    def restores(self) -> list[float]:
        """Seconds of each state restore the processor logged in this run (one line per assignment)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        return [float(s) for s in re.findall(r"restored \d+ states on partitions .* in ([0-9.]+)s", text)]


class Profiler:
    """py-spy sampling a running service; summarised as the functions with the most samples on top."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None
        self.available = shutil.which("py-spy", path=str(Path(sys.executable).parent)) is not None

    def start(self, pid: int) -> None:
        if not self.available:
            return
        py_spy = str(Path(sys.executable).parent / "py-spy")
        self.process = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(self.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> dict[str, dict[str, float]]:
        """Stop sampling; per function, the share of busy samples in which it was on top of the stack
        (``own``), and for the project's own functions, anywhere on it (``inclusive``): the top 12 of each."""
        if self.process is None:
            return {}
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.out.exists():
            return {}
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = [_short(frame) for frame in stack.split(";")]
            total += int(count)
            own[frames[-1]] += int(count)
            kinds[_kind(frames)] += int(count)
            for frame in set(frames):
                if frame.split("(")[-1].startswith(_PROJECT):
                    inclusive[frame] += int(count)
        if not total:
            return {}
        return {
            "breakdown": {kind: round(100 * n / total, 1) for kind, n in kinds.most_common()},
            "own": {frame: round(100 * n / total, 1) for frame, n in own.most_common(12)},
            "inclusive": {frame: round(100 * n / total, 1) for frame, n in inclusive.most_common(12)},
        }


_PROJECT = ("services/", "schemas/", "devtools/")
_HANDLERS = (
    "gatekeeper/service",
    "gatekeeper/state",
    "escalation/service",
    "escalation/strategy",
    "escalation/state",
)
# Where a sample's time goes: the first kind (in this order) any frame of its stack matches.
_KINDS = (
    ("kafka client", "(aiokafka/"),
    ("metrics", "(prometheus_client/"),
    ("deterministic ids", "deterministic_id "),
    ("shared clock", "(services/core/clock.py)"),
    ("policy engine", "(services/gatekeeper/engine.py)"),
    ("policy engine", "(services/gatekeeper/rules.py)"),
    ("state decode", "KeyedStage._load "),
    ("codec (decode, encode)", "(services/core/codec.py)"),
    *(("handler (domain)", f"(services/{name}.py)") for name in _HANDLERS),
    ("state encode", "KeyedStage._persist_dirty "),
)


def _kind(frames: list[str]) -> str:
    for kind, marker in _KINDS:
        if any(marker in frame for frame in frames):
            return kind
    return "processor and event loop"


def _short(frame: str) -> str:
    """``decide (services/gatekeeper/engine.py)``: no line number, paths relative to the repository or to
    site-packages."""
    frame = re.sub(r":\d+\)$", ")", frame)
    frame = frame.replace(f"({REPO_ROOT}/", "(")
    return re.sub(r"\(/\S*?site-packages/", "(", frame)
