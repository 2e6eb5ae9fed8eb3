"""The demo's progress: simulated days played out of all, with elapsed time and an estimate of the time left.

In a terminal it is a live bar (rich); otherwise (a log file, CI) one plain line every few days, so that a
log holds a readable history instead of one line rewritten with carriage returns. Amounts are shown per
currency: dollars, yuan and pounds never add up to one number.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import IO

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def clock(seconds: float) -> str:
    """``h:mm:ss`` of a duration in seconds, rounded to the second."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"


def figures(counts: Mapping[str, int], recovered: Mapping[str, Decimal], steps: int) -> str:
    """What the platform did so far: counts, and the money recovered per currency."""
    money = "  ".join(f"{currency} {amount:,.2f}" for currency, amount in sorted(recovered.items()))
    return (
        f"payments {counts.get('PaymentPosted', 0)}  promises {counts.get('PromiseToPayRecorded', 0)}  "
        f"replies {counts.get('replies', 0)}  clock stops {steps}  recovered {money or 'nothing yet'}"
    )


def plain_line(done: int, total: int, elapsed: float, detail: str) -> str:
    """One line of progress for a log: the share done, the time spent and, once a day is done, the time
    left at the pace so far."""
    share = done / total if total else 1.0
    left = clock(elapsed / done * (total - done)) if done else "?"
    return f"day {done}/{total} ({share:.0%})  elapsed {clock(elapsed)}  left ~{left}  {detail}"


class _BarAndFigures(Progress):
    """The bar on one line, the figures under it (on a narrow terminal they would squeeze the bar)."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            yield Text(str(task.fields.get("detail", "")), overflow="fold")


class DayProgress:
    """Days played of ``total``: a live bar on a terminal, else a plain line every ``every`` days (and at the
    last one)."""

    def __init__(self, total: int, stream: IO[str] | None = None, every: int | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.every = every or max(1, total // 10)
        self.started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if self.stream.isatty():
            self._bar = _BarAndFigures(
                TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )

    def __enter__(self) -> DayProgress:
        self.started = time.monotonic()
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("days", total=self.total, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, detail: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, detail=detail)
        elif done % self.every == 0 or done == self.total:
            elapsed = time.monotonic() - self.started
            print(plain_line(done, self.total, elapsed, detail), file=self.stream, flush=True)
