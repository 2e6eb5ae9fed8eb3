"""The demo's progress when it goes to a log: plain lines with the share done, elapsed time and time left,
and money per currency, never one sum of dollars, yuan and pounds."""

from __future__ import annotations

import io
from decimal import Decimal

from devtools.progress import DayProgress, clock, figures, plain_line


def test_a_plain_line_has_the_share_the_time_spent_and_the_time_left_at_the_pace_so_far() -> None:
    assert plain_line(15, 60, 90.0, "x") == "day 15/60 (25%)  elapsed 0:01:30  left ~0:04:30  x"
    assert plain_line(0, 60, 3.0, "x") == "day 0/60 (0%)  elapsed 0:00:03  left ~?  x"
    assert clock(3725.4) == "1:02:05"


def test_amounts_are_shown_per_currency() -> None:
    line = figures(
        {"PaymentPosted": 3, "PromiseToPayRecorded": 2, "replies": 1},
        {"USD": Decimal("1200.5"), "CNY": Decimal("800"), "GBP": Decimal("20.25")},
        7,
    )
    assert line == (
        "payments 3  promises 2  replies 1  clock stops 7  recovered CNY 800.00  GBP 20.25  USD 1,200.50"
    )
    assert figures({}, {}, 0).endswith("recovered nothing yet")


def test_not_a_terminal_one_line_every_tenth_of_the_days_and_the_last() -> None:
    stream = io.StringIO()
    with DayProgress(25, stream) as progress:
        for day in range(1, 26):
            progress.update(day, f"figures of day {day}")
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["2/25", "4/25", "6/25", "8/25", "10/25", "12/25",
                                                   "14/25", "16/25", "18/25", "20/25", "22/25", "24/25",
                                                   "25/25"]  # fmt: skip
    assert lines[-1].startswith("day 25/25 (100%)  elapsed ") and lines[-1].endswith("figures of day 25")
    assert "\r" not in stream.getvalue()
