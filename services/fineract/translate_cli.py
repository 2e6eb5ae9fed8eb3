"""The ``translate`` command: Fineract records as JSON lines on stdin, what the adapter does with each as one
JSON line on stdout.

It runs the service itself (the same decoder, stage, handler and settings, ``FINERACT_ADAPTER_*``) on the
runtime over an in-memory log, one record after the other, so the state carries from line to line as the
service's changelog would, and re-sent records (the same idempotency key) are applied once. Its clock is
the records' ``createdAt``: a hold's bound is counted from the record's own time.

An input line is one record of the Fineract topic::

    {"key": "AAAAAAAAACo=", "value": "wwE...", "headers": []}

``key`` and ``value`` in base64 (``key`` may be null; ``headers``, optional, as ``[name, base64]`` pairs:
Fineract sends none). Each line gets one answer:

- ``{"events": [{"type": ..., "id": ..., "time": ..., "data": {...}}]}``: what the service publishes on
  collections.account.v1 upon this record, each event in the publish command's line format (``id`` the
  ce_id, ``time`` the ce_time: Fineract's ``createdAt``, in UTC; money as decimal strings at the currency's
  places). Empty when the record only taught a loan. Records held earlier and released by this one (it
  taught their loan) add their events here, as the service publishes them at this moment;
- ``{"ignored": "<reason>"}``: nothing to publish, counted by reason (``other_tenant``, ``not_translated``,
  ``duplicate`` for a record whose idempotency key was applied already, ...);
- ``{"held": "unknown_loan", "loan_id": 42, "until": "..."}``: the record's loan is not known yet; the
  service holds it until an event teaches the loan (its events then come with that line) or ``until``;
- ``{"dead_letter": "<reason>", "error": "..."}``: the record goes to the dead-letter topic;
- ``{"error": "..."}``: the line is not a record (bad JSON, bad base64); the command goes on.

A line also carries ``"expired": [line numbers]`` when records held on those earlier lines passed their
bound by this record's time, and were dead-lettered (``unknown_loan``) as the service would. Records still
held at the end of the input are left held.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER
from services.core import codec
from services.core.clock import ManualClock
from services.core.runtime.handler import Result
from services.core.runtime.memory import MemoryBroker
from services.core.settings import CommonSettings, load
from services.fineract.app import build
from services.fineract.avro import FineractDecodeError
from services.fineract.metrics import FineractMetrics
from services.fineract.records import FineractRecord
from services.fineract.service import FineractAdapter
from services.fineract.settings import FineractSettings
from services.fineract.state import LoanEntry
from services.fineract.translate import Hold, Ignored, Translated, Translation, decode_message

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def configure(parser: argparse.ArgumentParser) -> None:
    """Configured by the service's own settings (``FINERACT_ADAPTER_*``)."""


def run(args: argparse.Namespace) -> int:
    settings = load(FineractSettings)
    asyncio.run(translate_lines(settings, sys.stdin.buffer, sys.stdout.buffer))
    return 0


async def translate_lines(settings: FineractSettings, lines: Iterable[bytes], out: BinaryIO) -> None:
    translator = Translator(settings)
    await translator.start()
    try:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                out.write(orjson.dumps(await translator.line(number, line), option=orjson.OPT_APPEND_NEWLINE))
                # Flushed per line, so that the command answers each record at once inside a pipe.
                out.flush()
    finally:
        await translator.close()


class _Observed:
    """The adapter's handler, telling the command what became of each record it applied."""

    def __init__(self, handler: FineractAdapter) -> None:
        self.handler = handler
        self.service = handler.service
        self.input_topics = handler.input_topics
        self.state_topic = handler.state_topic
        self.state_model = handler.state_model
        self.outcomes: dict[int, Translation] = {}  # offset -> what became of the record

    def apply(
        self, key: str, state: LoanEntry | None, envelope: codec.Envelope[BaseModel], now: datetime
    ) -> Result[LoanEntry]:
        applied = self.handler.applied(key, state, envelope, now)
        assert isinstance(envelope.event, FineractRecord)
        self.outcomes[envelope.event.offset] = applied.outcome
        return applied.result

    def due(self, key: str, state: LoanEntry, now: datetime) -> Result[LoanEntry]:
        return self.handler.due(key, state, now)


class Translator:
    """The adapter on one in-memory partition of its topic: one record in, one answer out."""

    def __init__(self, settings: FineractSettings) -> None:
        self.topic = settings.topic
        self.broker = MemoryBroker(partitions=1)
        self.clock = ManualClock(_EPOCH)
        self.handler = _Observed(FineractAdapter(settings))
        registry = CollectorRegistry()
        self.runtime = build(
            self.handler,
            load(CommonSettings, topic_prefix="", instance="fineract-translate"),
            settings,
            self.clock,
            registry,
            FineractMetrics(registry),
            self.broker,
        )
        self._line_of: dict[int, int] = {}  # offset -> input line number

    async def start(self) -> None:
        await self.runtime.start()

    async def close(self) -> None:
        await self.runtime.close()

    async def line(self, number: int, line: bytes) -> dict[str, Any]:
        try:
            key, value, headers = _parse(line)
        except ValueError as exc:
            return {"error": str(exc)}
        # A record that cannot be read is dead-lettered by the runtime's decoder, at whatever the time is.
        with contextlib.suppress(FineractDecodeError):
            self.clock.set(max(self.clock.now(), decode_message(value).created_at))
        mark = len(self.broker.sequence)
        offset = self.broker.append(self.topic, key, value, headers).offset
        self._line_of[offset] = number
        await self.runtime.step()
        written = self.broker.sequence[mark + 1 :]
        events = [_event_line(r.key, r.value, r.headers) for r in written if r.topic == ACCOUNT]
        letters = [_letter(r.key, r.value, r.headers) for r in written if r.topic == DEADLETTER]
        own = [letter for letter in letters if letter.source_offset == offset]
        answer = self._answer(self.handler.outcomes.pop(offset, None), events, own)
        expired = sorted(self._line_of[x.source_offset] for x in letters if x.source_offset != offset)
        return answer | {"expired": expired} if expired else answer

    @staticmethod
    def _answer(
        outcome: Translation | None, events: list[dict[str, Any]], own: list[ev.DeadLetter]
    ) -> dict[str, Any]:
        if own:
            return {"dead_letter": own[0].reason.value, "error": own[0].error}
        if outcome is None:  # the stage skipped it: its idempotency key was applied already
            return {"ignored": "duplicate"}
        if isinstance(outcome, Hold):
            return {"held": outcome.reason, "loan_id": outcome.loan_id, "until": _utc(outcome.until)}
        if isinstance(outcome, Ignored):
            return {"ignored": outcome.reason}
        if isinstance(outcome, Translated) and not events and outcome.ignored:
            return {"ignored": outcome.ignored[0]}
        return {"events": events}


def _parse(line: bytes) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("value"), str):
        raise ValueError('expected an object with "value" (base64) and "key" (base64 or null)')
    key = raw.get("key")
    if key is not None and not isinstance(key, str):
        raise ValueError('"key" must be base64 or null')
    headers = raw.get("headers") or []
    if not isinstance(headers, list) or not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(part, str) for part in h) for h in headers
    ):
        raise ValueError('"headers" must be a list of [name, base64] pairs')
    try:
        return (
            None if key is None else _b64(key),
            _b64(raw["value"]),
            [(name, _b64(encoded)) for name, encoded in headers],
        )
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from exc


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _event_line(key: bytes | None, value: bytes | None, headers: codec.Headers) -> dict[str, Any]:
    envelope = codec.decode(key, value, headers)
    assert value is not None
    return {
        "type": type(envelope.event).__name__,
        "id": envelope.id,
        "time": _utc(envelope.time),
        "data": orjson.loads(value),
    }


def _letter(key: bytes | None, value: bytes | None, headers: codec.Headers) -> ev.DeadLetter:
    letter = codec.decode(key, value, headers).event
    assert isinstance(letter, ev.DeadLetter)
    return letter


def _utc(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
