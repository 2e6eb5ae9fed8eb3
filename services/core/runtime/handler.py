"""What a pure, keyed handler returns and what it must provide: the contract between the domain and the
runtime's keyed stage (``keyed.KeyedStage``). No I/O here, so domain modules can import it freely."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from services.core import codec

St = TypeVar("St", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Output:
    """An event to publish; ``id`` becomes its ``ce_id`` (deterministic, so a replay dedupes)."""

    event: BaseModel
    id: str
    topic: str | None = None
    time: datetime | None = None  # its ce_time; the batch's instant when not given


@dataclass(frozen=True, slots=True)
class Letter:
    """A record a handler kept in its state and now gives up on: dead-lettered as it arrived, with a reason
    (a ``DeadLetterReason``), so that a redrive can put it back."""

    topic: str  # as the record arrived (the physical name)
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    error: str  # what was wrong, without the record's content (which the dead letter carries)


class Reject(Exception):
    """Raised by ``Handler.apply``: dead-letter the record being applied with ``reason`` (a
    ``DeadLetterReason``) instead of ``processing_error``. The key's state stays as it was."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Count:
    """Something a handler wants counted: a metric its service declares, by name, with its label values.
    A histogram observes ``value``; a counter is increased by it."""

    metric: str
    labels: tuple[str, ...] = ()
    value: float = 1.0


@dataclass(slots=True)
class Result(Generic[St]):
    """What a handler returns: the new state (``None`` deletes it), outputs, when next due, and counts.

    ``persist=False`` (from ``apply`` only) says the input changed nothing the key keeps: the stored state,
    its schedule and its seen ids stay as they were, and nothing is written to the changelog (``state``,
    ``next_due`` and ``scheduled`` are then not read). For inputs most of which leave the state alone.
    Scheduled work returns the state it keeps, which reschedules it."""

    state: St | None
    outputs: list[Output] = field(default_factory=list)
    next_due: datetime | None = None
    scheduled: int = 0  # items this key has waiting (deferred requests, pending steps), for the backlog gauge
    counts: list[Count] = field(default_factory=list)
    dead_letters: list[Letter] = field(default_factory=list)
    persist: bool = True


class Handler(Protocol[St]):
    """The pure part of a stateful service: no I/O, no clock reads, no metrics objects."""

    service: str
    input_topics: tuple[str, ...]
    state_topic: str
    state_model: type[St]

    def apply(
        self, key: str, state: St | None, envelope: codec.Envelope[BaseModel], now: datetime
    ) -> Result[St]:
        """Apply one input event to the debtor's state."""
        ...

    def due(self, key: str, state: St, now: datetime) -> Result[St]:
        """Run the debtor's scheduled work that is due at ``now``."""
        ...


class Meter(Protocol):
    """A service's metrics, fed the counts its handler returns."""

    def record(self, counts: Iterable[Count]) -> None: ...
