"""The Fineract adapter as a stateful handler on the runtime: Fineract records in, the platform's core
banking events out (``collections.account.v1``, keyed by debtor).

State is kept per loan (``state.LoanEntry``, keyed ``loan:<id>`` on the partition of the loan's records):
what the events carrying the whole loan taught, and the records about the loan that came first. Each record
goes through ``translate.translate_message`` with its loan's state:

- translated: its events are published with the translation's ``ce_id`` and ``createdAt`` as ``ce_time``;
  a loan it taught is kept, and the records held for that loan are translated at once, oldest first;
- ignored (another tenant, a type not translated, ...): counted by reason; the state is not touched;
- held (its loan is not known yet): kept in the loan's state until it is learned; once the bound of the
  first record held passes, every record held for the loan is dead-lettered (``unknown_loan``): never
  translated by guess. Held records survive a restart with the state. At most ``MAX_HELD`` per loan:
  beyond, a record is dead-lettered at once;
- unreadable: dead-lettered with the reason (``unknown_fingerprint``, ``truncated``, ``missing_field``...).

``applied`` returns what became of the record besides the runtime's ``Result``, for the translate
command, which runs this handler on the runtime over an in-memory log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from schemas import events as ev
from schemas.topics import FINERACT_STATE
from schemas.vocab import Channel
from services.core.codec import Envelope
from services.core.runtime.handler import Count, Letter, Output, Reject, Result

from .avro import FineractDecodeError
from .records import FineractRecord
from .settings import FineractSettings
from .state import Held, LoanEntry, LoanState
from .translate import DeadLetter, Hold, Ignored, Translated, Translation, decode_message, translate_message

MAX_HELD = 100  # records held per loan: a loan no event ever teaches must not grow without bound

_POINT_FOR = {
    Channel.SMS: ev.ContactPointType.PHONE,
    Channel.VOICE: ev.ContactPointType.PHONE,
    Channel.EMAIL: ev.ContactPointType.EMAIL,
}


class Counted(StrEnum):
    """What the handler counts; ``FineractMetrics`` declares a metric for each."""

    TRANSLATED = "translated"  # labels: type (the platform event's)
    IGNORED = "ignored"  # labels: reason (``translate.IgnoreReason``)
    HELD = "held"  # labels: outcome (held, released, expired)
    NO_CONSENT = "no_consent"  # labels: channel; a profile with a contact point for it but no consent


class HoldOutcome(StrEnum):
    HELD = "held"  # a record about a loan not known yet was held
    RELEASED = "released"  # the loan was learned and the held record translated
    EXPIRED = "expired"  # the bound passed: dead-lettered as unknown_loan


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of one record (``outcome``: its own translation), and what the runtime is to do."""

    outcome: Translation
    result: Result[LoanEntry]


@dataclass(slots=True)
class _Turn:
    outputs: list[Output] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)

    def count(self, metric: Counted, *labels: str) -> None:
        self.counts.append(Count(metric, labels))

    def publish(self, translated: Translated) -> None:
        for emitted in translated.events:
            self.outputs.append(Output(emitted.event, emitted.ce_id, time=emitted.ce_time))
            self.count(Counted.TRANSLATED, type(emitted.event).__name__)
            if isinstance(emitted.event, ev.DebtorProfileUpdated):
                for channel in _without_consent(emitted.event):
                    self.count(Counted.NO_CONSENT, channel.value)
        for reason in translated.ignored:
            self.count(Counted.IGNORED, reason)

    def result(self, entry: LoanEntry | None, persist: bool = True) -> Result[LoanEntry]:
        scheduled = len(entry.held) if entry else 0
        return Result(
            entry,
            outputs=self.outputs,
            next_due=entry.next_due() if entry else None,
            scheduled=scheduled,
            counts=self.counts,
            dead_letters=self.letters,
            persist=persist,
        )


class FineractAdapter:
    """Implements ``services.core.runtime.keyed.Handler`` for the Fineract adapter."""

    service = "fineract"
    state_topic = FINERACT_STATE
    state_model = LoanEntry

    def __init__(self, settings: FineractSettings) -> None:
        self.settings = settings
        self.input_topics: tuple[str, ...] = (settings.topic,)

    def apply(
        self, key: str, state: LoanEntry | None, envelope: Envelope[BaseModel], now: datetime
    ) -> Result[LoanEntry]:
        return self.applied(key, state, envelope, now).result

    def applied(
        self, key: str, state: LoanEntry | None, envelope: Envelope[BaseModel], now: datetime
    ) -> Applied:
        record = envelope.event
        assert isinstance(record, FineractRecord)  # records.decode_record is the topic's decoder
        entry = state or LoanEntry()
        loan_id = record.aggregate_id if record.aggregate == "loan" else None
        if record.aggregate == "loan" and loan_id is None:
            raise Reject("missing_field", f"{record.message.type} keyed -1: the record names no loan")
        outcome = translate_message(record.message, _loans(loan_id, entry), self.settings, now)
        turn = _Turn()
        match outcome:
            case DeadLetter():
                raise Reject(outcome.reason, outcome.detail)
            case Ignored():
                turn.count(Counted.IGNORED, outcome.reason)
                return Applied(outcome, turn.result(state, persist=False))
            case Hold():
                if len(entry.held) >= MAX_HELD:
                    raise Reject("unknown_loan", f"{MAX_HELD} records already held for one loan not learned")
                assert outcome.until is not None  # the stage always gives ``now``
                held = Held(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    until=outcome.until,
                )
                turn.count(Counted.HELD, HoldOutcome.HELD)
                return Applied(outcome, turn.result(entry.model_copy(update={"held": [*entry.held, held]})))
            case Translated():
                turn.publish(outcome)
                learned = outcome.changed.get(loan_id) if loan_id is not None else None
                if learned is None:
                    return Applied(outcome, turn.result(state, persist=False))
                entry = entry.model_copy(update={"loan": learned})
                entry = self._release(entry, turn, now)
                return Applied(outcome, turn.result(entry))

    def due(self, key: str, state: LoanEntry, now: datetime) -> Result[LoanEntry]:
        """The loan was not learned within the bound of its first held record: dead-letter every record held
        for it, in order. Together, so that they keep their order on the dead-letter topic, and no id of
        theirs stays remembered by a state that lives on."""
        turn = _Turn()
        first = state.next_due()
        if first is None or first > now:
            return turn.result(state)
        error = f"no event taught the loan within {self.settings.hold_seconds}s of its first held record"
        for held in state.held:
            turn.letters.append(_letter(held, "unknown_loan", error))
            turn.count(Counted.HELD, HoldOutcome.EXPIRED)
        return turn.result(state.model_copy(update={"held": []}) if state.loan is not None else None)

    def _release(self, entry: LoanEntry, turn: _Turn, now: datetime) -> LoanEntry:
        """Translate the records held for the loan just learned, in the order they arrived."""
        assert entry.loan is not None
        loan = entry.loan
        still: list[Held] = []
        for held in entry.held:
            try:
                outcome = translate_message(
                    decode_message(held.value), {loan.loan_id: loan}, self.settings, now
                )
            except FineractDecodeError as exc:  # it was read once: only a release without it could fail
                outcome = DeadLetter(exc.reason, exc.message)
            match outcome:
                case Hold():
                    # About another loan than its key says: it waits for its bound like any other.
                    still.append(held)
                    continue
                case Translated():
                    turn.publish(outcome)
                    loan = outcome.changed.get(loan.loan_id, loan)
                case Ignored():
                    turn.count(Counted.IGNORED, outcome.reason)
                case DeadLetter():
                    turn.letters.append(_letter(held, outcome.reason, outcome.detail))
            turn.count(Counted.HELD, HoldOutcome.RELEASED)
        return LoanEntry(loan=loan, held=still)


def _loans(loan_id: int | None, entry: LoanEntry) -> dict[int, LoanState]:
    return {loan_id: entry.loan} if loan_id is not None and entry.loan is not None else {}


def _letter(held: Held, reason: str, error: str) -> Letter:
    return Letter(held.topic, held.partition, held.offset, held.key, held.value, reason, error)


def _without_consent(profile: ev.DebtorProfileUpdated) -> list[Channel]:
    """The channels the profile has a contact point for but no consent on any: where a pack that requires
    consent will block NO_CONSENT until the bank publishes the consents it holds."""
    missing = []
    for channel, kind in _POINT_FOR.items():
        points = [p for p in profile.contact_points if p.type is kind]
        if points and not any(channel in p.consents for p in points):
            missing.append(channel)
    return missing
