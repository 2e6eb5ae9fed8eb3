"""The one clock every service reads time through.

Production reads the wall clock. Tests and the demo share one simulated clock between processes
through a small JSON file: either *accelerated* (simulated time runs ``speed`` times faster than the
wall clock from a common origin) or *stepped* (a driver moves time forward only when every consumer
has caught up; see ``devtools.stepper``). Domain code never reads time itself: it is handed ``now``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import orjson

from services.core.settings import ConfigError


class Clock(Protocol):
    """A source of timezone-aware UTC instants."""

    def now(self) -> datetime: ...


class WallClock:
    """Real time. The production clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock a unit test sets by hand."""

    def __init__(self, start: datetime) -> None:
        _require_aware(start)
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        _require_aware(instant)
        self._now = instant

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@dataclass(frozen=True, slots=True)
class _ClockState:
    mode: str
    origin_sim: datetime
    origin_wall: float
    speed: float

    def at(self, wall: float) -> datetime:
        if self.mode == "stepped":
            return self.origin_sim
        return self.origin_sim + timedelta(seconds=(wall - self.origin_wall) * self.speed)


class SharedClock:
    """Simulated time shared by every process that points at the same file.

    The file is rewritten atomically by whoever drives time (``write_stepped``); readers reload it only
    when its modification time changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime_ns = -1
        self._state: _ClockState | None = None

    def now(self) -> datetime:
        state = self._load()
        return state.at(time.time())

    @property
    def stepped(self) -> bool:
        return self._load().mode == "stepped"

    def _load(self) -> _ClockState:
        try:
            mtime_ns = self.path.stat().st_mtime_ns
        except FileNotFoundError as exc:
            raise ClockError(f"COLLECTIONS_CLOCK: the shared clock file {self.path} does not exist") from exc
        if self._state is None or mtime_ns != self._mtime_ns:
            raw = orjson.loads(self.path.read_bytes())
            self._state = _ClockState(
                mode=raw["mode"],
                origin_sim=datetime.fromisoformat(raw["origin_sim"]),
                origin_wall=float(raw.get("origin_wall", 0.0)),
                speed=float(raw.get("speed", 1.0)),
            )
            self._mtime_ns = mtime_ns
        return self._state


def write_stepped(path: Path, instant: datetime) -> None:
    """Set the shared clock to ``instant`` and hold it there."""
    _require_aware(instant)
    _atomic_write(path, {"mode": "stepped", "origin_sim": instant.astimezone(UTC).isoformat()})


def write_ack(directory: Path, name: str, seen: datetime, next_due: datetime | None) -> None:
    """Tell a stepped-clock driver that ``name`` has done all timed work due at ``seen``."""
    _atomic_write(
        directory / f"{name}.ack",
        {"seen": seen.isoformat(), "next_due": next_due.isoformat() if next_due else None},
    )


def clock_from_spec(spec: str) -> Clock:
    """``wall`` for production, ``file:/path/to/clock.json`` for a shared simulated clock."""
    if spec == "wall":
        return WallClock()
    if spec.startswith("file:"):
        return SharedClock(Path(spec.removeprefix("file:")))
    raise ClockError(f"unknown clock {spec!r}: expected 'wall' or 'file:/path'")


class ClockError(ConfigError):
    """The clock cannot be read or is misconfigured (a deployment problem: commands fail in one line)."""


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ClockError(f"{instant!r} has no UTC offset")


def _atomic_write(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(payload))
    os.replace(tmp, path)
