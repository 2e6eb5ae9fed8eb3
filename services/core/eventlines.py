"""Event lines: the JSON-lines form in which people and files hand events to the platform.

A line is ``{"type": "AccountOverdue", "data": {...}}`` with optional ``id`` (the ce_id; by default a hash of
the line's content, so publishing the same file twice is idempotent downstream), ``time`` (the ce_time;
default now) and ``source`` (default ``/core-banking``). The publish command and the what-if replay read
them with ``parse``, the same validation every consumer applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import orjson
from pydantic import BaseModel, ValidationError

from schemas import ids, wire
from schemas.topics import topic_for
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


def parse(lines: Iterable[str], clock: Clock) -> tuple[list[EventLine], list[Rejected]]:
    """Validate every non-blank line; nothing here touches the broker."""
    good: list[EventLine] = []
    bad: list[Rejected] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            good.append(_parse_line(number, line, clock))
        except (ValueError, ValidationError) as exc:
            message = format_errors(exc) if isinstance(exc, ValidationError) else str(exc)
            bad.append(Rejected(number, message))
    return good, bad


def _parse_line(number: int, line: str, clock: Clock) -> EventLine:
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
    event = wire.read(model, orjson.dumps(raw["data"]))
    when = datetime_of(raw.get("time"), clock)
    ce_id = raw.get("id") or ids.published_line_id(raw["type"], orjson.dumps(raw["data"]).decode())
    encoded = codec.encode(event, source=str(raw.get("source") or "/core-banking"), time=when, id=str(ce_id))
    return EventLine(number, topic_for(event), encoded)


def datetime_of(value: object, clock: Clock) -> datetime:
    if not isinstance(value, str):
        return clock.now()
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError("time has no UTC offset")
    return when
