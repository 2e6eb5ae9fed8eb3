"""CloudEvents 1.0 in Kafka binary mode: the one codec every service encodes and decodes with.

Attributes travel as ``ce_*`` headers, the event as a JSON value, the debtor id as the key. Decoding
happens once, at the edge, straight from the raw bytes; what cannot be decoded raises ``DecodeError``
with a machine-readable reason, which the consumer turns into a dead letter.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import events as ev
from schemas import wire
from schemas.events import ALL_EVENTS

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
MAX_VALUE_BYTES = 512 * 1024
# A dead letter carries the original record in base64: up to the broker's 1 MiB limit, plus a third.
MAX_DEADLETTER_BYTES = 4 * 1024 * 1024
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")

Headers = Sequence[tuple[str, bytes]]
E = TypeVar("E", bound=BaseModel)


def type_name(model: type[BaseModel]) -> str:
    """The ``ce_type`` of a model: ``collections.<ModelName>.v1``."""
    return f"collections.{model.__name__}.v1"


MODELS: dict[str, type[BaseModel]] = {type_name(model): model for model in ALL_EVENTS}


def type_name_of(name: str) -> str:
    """Accept a bare model name (``AccountOverdue``) or a full ``ce_type``."""
    return name if name.startswith("collections.") else f"collections.{name}.v1"


@dataclass(frozen=True, slots=True)
class Envelope(Generic[E]):
    """A decoded record: the event and its CloudEvents attributes."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None
    event: E


@dataclass(frozen=True, slots=True)
class Encoded:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class DecodeError(Exception):
    """A record that is not a valid event of the contract; ``reason`` is a dead-letter reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def key_of(event: BaseModel) -> str:
    """The partition key: the debtor id (the control scope for operator controls, the original key of a
    dead letter)."""
    if isinstance(event, ev.OutreachControlChanged):
        return event.control_key
    if isinstance(event, ev.DeadLetter):
        return base64.b64decode(event.key_b64).decode(errors="replace") if event.key_b64 else ""
    debtor_id = getattr(event, "debtor_id", None)
    if not isinstance(debtor_id, str):
        raise TypeError(f"{type(event).__name__} has no partition key")
    return debtor_id


def encode(event: BaseModel, *, source: str, time: datetime, id: str | None = None) -> Encoded:
    """Encode ``event``; ``id`` (the idempotency key downstream) defaults to a random UUID."""
    if time.tzinfo is None:
        raise ValueError("ce_time must be timezone-aware")
    key = key_of(event)
    headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", (id or str(uuid.uuid4())).encode()),
        ("ce_source", source.encode()),
        ("ce_type", type_name(type(event)).encode()),
        ("ce_time", time.astimezone(UTC).isoformat().encode()),
        ("ce_subject", key.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    return Encoded(key=key.encode(), value=event.model_dump_json().encode(), headers=headers)


def decode(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    *,
    not_after: datetime | None = None,
    context: dict[str, object] | None = None,
) -> Envelope[BaseModel]:
    """Decode one record or raise ``DecodeError``. A ``ce_time`` later than ``not_after`` (now plus the
    clock skew a consumer tolerates) is refused: an event stamped in the future would outrank, for ever,
    every true event after it. ``context`` is pydantic's validation context (the publish command's strict
    edge checks)."""
    attrs: dict[str, str] = {}
    for name, raw in headers:
        if name.startswith("ce_") or name == "content-type":
            try:
                attrs[name] = raw.decode()
            except (UnicodeDecodeError, AttributeError) as exc:
                raise DecodeError("missing_header", f"header {name} is not UTF-8") from exc
    missing = [name for name in REQUIRED_HEADERS if not attrs.get(name)]
    if missing:
        raise DecodeError("missing_header", f"missing CloudEvents headers: {', '.join(missing)}")
    if attrs["ce_specversion"] != SPEC_VERSION:
        raise DecodeError("missing_header", f"unsupported ce_specversion {attrs['ce_specversion']!r}")
    model = MODELS.get(attrs["ce_type"])
    if model is None:
        raise DecodeError("unknown_type", f"unknown ce_type {attrs['ce_type'][:200]!r}")
    try:
        ce_time = datetime.fromisoformat(attrs["ce_time"])
    except ValueError as exc:
        raise DecodeError("missing_header", f"ce_time is not an ISO 8601 time: {exc}") from exc
    if ce_time.tzinfo is None:
        raise DecodeError("missing_header", "ce_time has no UTC offset")
    if not_after is not None and ce_time > not_after:
        raise DecodeError("future_time", "ce_time is later than now plus the tolerated clock skew")
    if value is None:
        raise DecodeError("invalid_json", "record has no value")
    limit = MAX_DEADLETTER_BYTES if model is ev.DeadLetter else MAX_VALUE_BYTES
    if len(value) > limit:
        raise DecodeError("too_large", f"value of {len(value)} bytes exceeds {limit}")
    try:
        event = wire.read(model, value, context)
    except ValidationError as exc:
        reason = (
            "invalid_json" if any(e["type"] == "json_invalid" for e in exc.errors()) else "schema_violation"
        )
        raise DecodeError(reason, _summarize(exc)) from exc
    if model is not ev.DeadLetter:
        expected = key_of(event)
        if key is None or key.decode(errors="replace") != expected:
            raise DecodeError("key_mismatch", f"record key does not match the {model.__name__} key field")
    return Envelope(
        id=attrs["ce_id"],
        source=attrs["ce_source"],
        type=attrs["ce_type"],
        time=ce_time,
        subject=attrs.get("ce_subject"),
        event=event,
    )


def _summarize(exc: ValidationError) -> str:
    """The validation errors without the offending input values, which may be personal data."""
    parts = []
    for error in exc.errors()[:10]:
        location = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)
