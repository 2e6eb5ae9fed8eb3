"""Chart geometry for the HTML report: plain data (lines, rectangles, texts) that the Jinja2 template draws as
inline SVG. Axes use nice ticks (steps of 1, 2 or 5 times a power of ten); every mark names its series and
arm; legends are HTML beside the drawing, so no legend can cover a mark or a label.

Sizes are in SVG user units for a drawing ``WIDTH`` wide, scaled to the page: at 390 px the drawing is
nearly 1:1, so 11-unit text stays readable on a phone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

WIDTH, HEIGHT = 360, 230
FONT = 11
CHAR = Decimal("6.2")  # average advance of an 11-unit sans-serif character, for laying labels out
TOP, RIGHT = 10, 14
TICK_GAP = 6
AXIS_TITLE = 16

ARM_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
"""Okabe-Ito: distinct for the common kinds of colour blindness, in this order."""

OUTCOME_COLOURS: dict[str, str] = {
    "approved": "#F99379",
    "sent": "#8DB600",
    "delivered": "#008856",
    "undelivered": "#F38400",
    "failed": "#BE0032",
    "not_connected": "#654522",
    "busy": "#C2B280",
    "no_answer": "#848482",
    "voicemail": "#875692",
    "conversation": "#0067A5",
    "replied": "#F3C300",
    "opted_out": "#E68FAC",
    "agent_transfer": "#A1CAF1",
    "blocked": "#2B3D26",
    "expired": "#882D17",
    "cancelled": "#DCD300",
    "unknown": "#222222",
    "pending": "#D9D9D9",
}
"""One fixed colour per outcome (Kelly's colours of maximum contrast), the same in every report."""


@dataclass(frozen=True, slots=True)
class Text:
    x: str
    y: str
    text: str
    anchor: str = "middle"
    rotate: bool = False
    role: str = "tick"


@dataclass(frozen=True, slots=True)
class Rule:
    x1: str
    y1: str
    x2: str
    y2: str
    role: str = "grid"


@dataclass(frozen=True, slots=True)
class Mark:
    """A bar (``width`` and ``height``) or a line (``points``) of one series."""

    series: str
    arm: str
    colour: str
    title: str
    x: str = "0"
    y: str = "0"
    width: str = "0"
    height: str = "0"
    points: str = ""


@dataclass(frozen=True, slots=True)
class Key:
    label: str
    colour: str
    line: bool = False


@dataclass
class Chart:
    id: str
    title: str
    description: str
    height: int = HEIGHT
    rules: list[Rule] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    legend: list[Key] = field(default_factory=list)
    width: int = WIDTH


def nice_ticks(top: Decimal, target: int = 5, *, whole: bool = False) -> list[Decimal]:
    """0 up to the first multiple of the step at or above ``top``; the step is 1, 2 or 5 times a power of
    ten, the smallest giving at most ``target`` intervals (at least 1 when ``whole``: counts, days)."""
    if top <= 0:
        top = Decimal(1)
    raw = top / target
    base = Decimal(1).scaleb(raw.adjusted())
    step = next(m * base for m in (Decimal(1), Decimal(2), Decimal(5), Decimal(10)) if m * base >= raw)
    if whole:
        step = max(step, Decimal(1))
    intervals = int((top / step).to_integral_value(ROUND_CEILING))
    # Plain notation: 10 rather than 1E+1, 0.05 rather than 5E-2.
    return [Decimal(format((step * i).normalize(), "f")) for i in range(intervals + 1)]


def _n(value: Decimal | float | int) -> str:
    return f"{Decimal(value).quantize(Decimal('0.1'))}"


def _text_width(text: str) -> Decimal:
    return CHAR * len(text)


class _Frame:
    """A plot area with a y axis of nice ticks, sized so that the widest tick label fits on its left."""

    def __init__(
        self,
        top: Decimal,
        y_format: Callable[[Decimal], str],
        y_title: str,
        x_title: str,
        height: int = HEIGHT,
    ) -> None:
        self.ticks = nice_ticks(top)
        self.top = self.ticks[-1]
        self.labels = [y_format(t) for t in self.ticks]
        self.left = int(AXIS_TITLE + TICK_GAP * 2 + max(_text_width(label) for label in self.labels))
        self.height = height
        self.bottom = height - (FONT + TICK_GAP + AXIS_TITLE + 4)
        self.right = WIDTH - RIGHT
        self.y_title = y_title
        self.x_title = x_title

    @property
    def plot_width(self) -> Decimal:
        return Decimal(self.right - self.left)

    def y(self, value: Decimal) -> Decimal:
        return Decimal(self.bottom) - value / self.top * (self.bottom - TOP)

    def draw(self, chart: Chart) -> None:
        for tick, label in zip(self.ticks, self.labels, strict=True):
            y = self.y(tick)
            chart.rules.append(Rule(_n(self.left), _n(y), _n(self.right), _n(y)))
            chart.texts.append(Text(_n(self.left - TICK_GAP), _n(y + 4), label, "end"))
        chart.rules.append(Rule(_n(self.left), _n(TOP), _n(self.left), _n(self.bottom), "axis"))
        chart.rules.append(Rule(_n(self.left), _n(self.bottom), _n(self.right), _n(self.bottom), "axis"))
        middle = Decimal(TOP + self.bottom) / 2
        chart.texts.append(Text(_n(FONT), _n(middle), self.y_title, "middle", rotate=True, role="title"))
        chart.texts.append(
            Text(_n((self.left + self.right) / 2), _n(self.height - 4), self.x_title, "middle", role="title")
        )


def line_chart(
    id: str,
    title: str,
    description: str,
    series: Sequence[tuple[str, Sequence[tuple[int, Decimal | None]]]],
    y_format: Callable[[Decimal], str],
    y_title: str,
    x_title: str,
) -> Chart:
    """One line per arm over integer x (days or hours); a missing value breaks the line."""
    chart = Chart(id, title, description)
    values = [v for _, pts in series for _, v in pts if v is not None]
    xs = [x for _, pts in series for x, _ in pts]
    frame = _Frame(max(values, default=Decimal(0)), y_format, y_title, x_title)
    frame.draw(chart)
    last = max(xs, default=1) or 1
    x_ticks = [t for t in nice_ticks(Decimal(last), 6, whole=True) if t <= last]

    def x_of(x: Decimal | int) -> Decimal:
        return frame.left + Decimal(x) / last * frame.plot_width

    for tick in x_ticks:
        chart.texts.append(Text(_n(x_of(tick)), _n(frame.bottom + FONT + 3), f"{tick}"))
    for index, (arm, pts) in enumerate(series):
        colour = ARM_COLOURS[index % len(ARM_COLOURS)]
        runs: list[list[str]] = [[]]
        for x, v in pts:
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{_n(x_of(x))},{_n(frame.y(v))}")
        for run in runs:
            if run:
                # A single point still needs a visible mark: a zero-length line with round caps.
                drawn = run if len(run) > 1 else [run[0], run[0]]
                chart.marks.append(Mark(arm, arm, colour, f"{arm}", points=" ".join(drawn)))
        chart.legend.append(Key(arm, colour, line=True))
    return chart


def bar_chart(
    id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Decimal | None]]],
    y_format: Callable[[Decimal], str],
    y_title: str,
    x_title: str,
) -> Chart:
    """Vertical bars grouped by category, one bar per arm in each group."""
    chart = Chart(id, title, description)
    values = [v for _, vs in series for v in vs if v is not None]
    frame = _Frame(max(values, default=Decimal(0)), y_format, y_title, x_title)
    frame.draw(chart)
    group = frame.plot_width / max(1, len(categories))
    bar = group * Decimal("0.8") / max(1, len(series))
    label_every = _every(categories, group)
    for position, category in enumerate(categories):
        start = frame.left + group * position + group * Decimal("0.1")
        if position % label_every == 0:
            chart.texts.append(
                Text(_n(start + group * Decimal("0.4")), _n(frame.bottom + FONT + 3), category)
            )
        for index, (arm, vs) in enumerate(series):
            value = vs[position]
            if value is None:
                continue
            colour = ARM_COLOURS[index % len(ARM_COLOURS)]
            # A zero still gets a sliver, so every arm with data shows a mark.
            height = max(Decimal(1), Decimal(frame.bottom) - frame.y(value))
            chart.marks.append(
                Mark(
                    arm,
                    arm,
                    colour,
                    f"{arm}, {category}: {y_format(value)}",
                    x=_n(start + bar * index),
                    y=_n(Decimal(frame.bottom) - height),
                    width=_n(bar),
                    height=_n(height),
                )
            )
    chart.legend = [Key(arm, ARM_COLOURS[i % len(ARM_COLOURS)]) for i, (arm, _) in enumerate(series)]
    return chart


def row_bars(
    id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Decimal | None]]],
    x_format: Callable[[Decimal], str],
    x_title: str,
) -> Chart:
    """Horizontal bars grouped by category (one row of bars per category, one bar per arm), for categories
    whose names are too long to sit side by side under an axis."""
    bar, gap = 8, 8
    group = bar * max(1, len(series)) + gap
    bottom = TOP + group * len(categories)
    height = bottom + FONT + TICK_GAP + AXIS_TITLE + 8
    chart = Chart(id, title, description, height=height)
    values = [v for _, vs in series for v in vs if v is not None]
    ticks = nice_ticks(max(values, default=Decimal(0)), 4)
    labels = [x_format(t) for t in ticks]
    left = int(TICK_GAP * 2 + max((_text_width(c) for c in categories), default=Decimal(0)))
    # The last tick label is centred on the right end of the axis: keep room for its right half.
    right = int(WIDTH - RIGHT - _text_width(labels[-1]) / 2)

    def x_of(value: Decimal) -> Decimal:
        return left + value / ticks[-1] * (right - left)

    for tick, label in zip(ticks, labels, strict=True):
        chart.rules.append(Rule(_n(x_of(tick)), _n(TOP), _n(x_of(tick)), _n(bottom)))
        chart.texts.append(Text(_n(x_of(tick)), _n(bottom + FONT + 3), label))
    chart.rules.append(Rule(_n(left), _n(TOP), _n(left), _n(bottom), "axis"))
    chart.texts.append(Text(_n((left + right) / 2), _n(height - 4), x_title, role="title"))
    for position, category in enumerate(categories):
        y = TOP + group * position + gap / 2
        middle = y + bar * len(series) / 2
        chart.texts.append(Text(_n(left - TICK_GAP), _n(middle + 4), category, "end", role="label"))
        for index, (arm, vs) in enumerate(series):
            value = vs[position]
            if value is None:
                continue
            colour = ARM_COLOURS[index % len(ARM_COLOURS)]
            width = max(Decimal(1), x_of(value) - left)
            chart.marks.append(
                Mark(
                    arm,
                    arm,
                    colour,
                    f"{arm}, {category}: {x_format(value)}",
                    x=_n(left),
                    y=_n(y + bar * index),
                    width=_n(width),
                    height=_n(bar),
                )
            )
    chart.legend = [Key(arm, ARM_COLOURS[i % len(ARM_COLOURS)]) for i, (arm, _) in enumerate(series)]
    return chart


def _every(categories: Sequence[str], group: Decimal) -> int:
    """Label every n-th category so that labels keep a gap between them."""
    widest = max((_text_width(c) for c in categories), default=Decimal(0)) + TICK_GAP
    every = 1
    while group * every < widest:
        every += 1
    return every


def stacked_rows(
    id: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, str, dict[str, int]]],
    colours: dict[str, str],
    x_title: str,
) -> Chart:
    """Horizontal bars, one per (label, arm) row, stacked by key; the row's total printed after its bar."""
    row_height, gap = 18, 8
    height = TOP + len(rows) * (row_height + gap) + FONT + TICK_GAP + AXIS_TITLE + 8
    chart = Chart(id, title, description, height=height)
    totals = [sum(counts.values()) for _, _, counts in rows]
    left = int(TICK_GAP * 2 + max((_text_width(label) for label, _, _ in rows), default=Decimal(0)))
    total_room = int(TICK_GAP + max((_text_width(f"{t:,}") for t in totals), default=Decimal(0)))
    right = WIDTH - RIGHT - total_room
    ticks = nice_ticks(Decimal(max(totals, default=0)), 4, whole=True)
    top = ticks[-1]
    bottom = TOP + len(rows) * (row_height + gap)

    def x_of(value: Decimal) -> Decimal:
        return left + value / top * (right - left)

    for tick in ticks:
        chart.rules.append(Rule(_n(x_of(tick)), _n(TOP), _n(x_of(tick)), _n(bottom)))
        chart.texts.append(Text(_n(x_of(tick)), _n(bottom + FONT + 3), f"{tick:,}"))
    chart.texts.append(Text(_n((left + right) / 2), _n(height - 4), x_title, role="title"))
    keys: list[str] = []

    def order(key: str) -> int:
        return list(colours).index(key) if key in colours else len(colours)

    for index, (label, arm, counts) in enumerate(rows):
        y = TOP + index * (row_height + gap) + gap / 2
        chart.texts.append(Text(_n(left - TICK_GAP), _n(y + row_height / 2 + 4), label, "end", role="label"))
        x = Decimal(left)
        for key in sorted(counts, key=order):
            width = x_of(Decimal(counts[key])) - left
            if not counts[key]:
                continue
            keys += [key] if key not in keys else []
            chart.marks.append(
                Mark(
                    key,
                    arm,
                    colours.get(key, "#999999"),
                    f"{label}: {key} {counts[key]:,}",
                    x=_n(x),
                    y=_n(y),
                    width=_n(width),
                    height=_n(row_height),
                )
            )
            x += width
        chart.texts.append(
            Text(
                _n(x + TICK_GAP),
                _n(y + row_height / 2 + 4),
                f"{sum(counts.values()):,}",
                "start",
                role="value",
            )
        )
    chart.legend = [Key(key, colours.get(key, "#999999")) for key in sorted(keys, key=order)]
    return chart
