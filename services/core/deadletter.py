"""Dead letters: what a consumer could not read, kept byte for byte with the reason and its position.

A dead letter's value is a ``DeadLetter`` event carrying the original key, value and headers (base64),
so nothing is lost and ``python -m services.core.redrive`` can put it back once the cause is fixed. Its
record key is the original key, so a debtor's dead letters stay together.
"""

from __future__ import annotations

import base64
from datetime import datetime

from aiokafka.structs import ConsumerRecord

from schemas import ids
from schemas.events import DeadLetter
from services.core import codec


def dead_letter_record(
    record: ConsumerRecord[bytes, bytes], consumer: str, reason: str, error: str, now: datetime
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The (key, value, headers) to publish on the dead-letter topic for ``record``."""
    letter = DeadLetter(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        consumer=consumer,
        reason=reason,
        error=error[:4000],
        key_b64=_b64(record.key),
        value_b64=_b64(record.value),
        headers=[(name, base64.b64encode(value or b"").decode()) for name, value in record.headers],
        failed_at=now,
    )
    key = record.key or b""
    enc = codec.encode(
        letter,
        source=f"/collections/{consumer}",
        time=now,
        id=ids.dead_letter_id(record.topic, record.partition, record.offset),
    )
    return key, enc.value, enc.headers


def original(letter: DeadLetter) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """The original (key, value, headers) of a dead letter."""
    key = base64.b64decode(letter.key_b64) if letter.key_b64 is not None else None
    value = base64.b64decode(letter.value_b64) if letter.value_b64 is not None else None
    return key, value, [(name, base64.b64decode(raw)) for name, raw in letter.headers]


def _b64(raw: bytes | None) -> str | None:
    return base64.b64encode(raw).decode() if raw is not None else None
