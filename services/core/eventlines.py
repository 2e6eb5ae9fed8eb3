"""Event lines: the JSON-lines form in which people and files hand events to the platform.

A line is ``{"type": "AccountOverdue", "data": {...}}`` with optional ``id`` (the ce_id; by default a hash of
the line's content, so publishing the same file twice is idempotent downstream), ``time`` (the ce_time;
default now) and ``source`` (default ``/core-banking``). The publish command and the what-if replay read
them with ``parse``, the same validation every consumer applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from pydantic import BaseModel, ValidationError

from schemas import ids, wire
from schemas.events import DebtorProfileUpdated
from schemas.topics import topic_for
from schemas.values import EDGE
from services.core import codec
from services.core.clock import Clock
from services.core.settings import format_errors


@dataclass(frozen=True, slots=True)
class EventLine:
    """A valid line, encoded for its topic (a logical name)."""

    line: int
    topic: str
    encoded: codec.Encoded


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    error: str


@dataclass(frozen=True, slots=True)
class Edge:
    """What the edge accepts beyond each model's own rules: the event types this writer may publish, the
    jurisdictions the loaded policy packs cover, and how far in the future an event's time may lie."""

    types: frozenset[type[BaseModel]]
    packs: frozenset[str]
    max_skew: timedelta


def parse(
    lines: Iterable[str], clock: Clock, edge: Edge | None = None
) -> tuple[list[EventLine], list[Rejected]]:
    """Validate every non-blank line; nothing here touches the broker. With ``edge``, strictly: every value
    of every model checked as the publish command checks it."""
    good: list[EventLine] = []
    bad: list[Rejected] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            good.append(_parse_line(number, line, clock, edge))
        except (ValueError, ValidationError) as exc:
            message = format_errors(exc) if isinstance(exc, ValidationError) else str(exc)
            bad.append(Rejected(number, message))
    return good, bad


def _parse_line(number: int, line: str, clock: Clock, edge: Edge | None) -> EventLine:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("type"), str)
        or not isinstance(raw.get("data"), dict)
    ):
        raise ValueError('expected an object with "type" (an event name) and "data" (the event)')
    model: type[BaseModel] | None = codec.MODELS.get(codec.type_name_of(raw["type"]))
    if model is None:
        raise ValueError(f"unknown event type {raw['type'][:100]!r}")
    if edge is not None and model not in edge.types:
        raise ValueError(f"{model.__name__} is not an event this command publishes (the platform writes it)")
    event = wire.read(model, orjson.dumps(raw["data"]), {EDGE: True} if edge else None)
    when = datetime_of(raw.get("time"), clock)
    if edge is not None:
        _within(event, when, clock, edge)
    ce_id = raw.get("id") or ids.published_line_id(raw["type"], orjson.dumps(raw["data"]).decode())
    encoded = codec.encode(event, source=str(raw.get("source") or "/core-banking"), time=when, id=str(ce_id))
    return EventLine(number, topic_for(event), encoded)


def _within(event: BaseModel, when: datetime, clock: Clock, edge: Edge) -> None:
    if when > clock.now() + edge.max_skew:
        raise ValueError("time: later than now plus the tolerated clock skew (future_time)")
    if isinstance(event, DebtorProfileUpdated):
        for index, jurisdiction in enumerate(event.jurisdictions):
            if jurisdiction not in edge.packs:
                raise ValueError(f"data.jurisdictions[{index}]: no policy pack covers {jurisdiction!r}")


def datetime_of(value: object, clock: Clock) -> datetime:
    if not isinstance(value, str):
        return clock.now()
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError("time has no UTC offset")
    return when
