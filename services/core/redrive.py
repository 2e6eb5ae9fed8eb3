"""``python -m services.core.redrive``: inspect dead letters and put them back on their source topic.

- ``list`` prints the chosen dead letters (position, consumer, reason, error; never the payload);
- ``replay`` republishes them unchanged, for when the cause was in a consumer that is now fixed;
- ``export FILE`` writes them as JSON lines (payload as text) for a person to correct, and
  ``import FILE`` republishes the corrected lines to their source topics.

Choose with ``--source-topic``, ``--reason``, ``--consumer`` and ``--offsets PARTITION:FROM-TO`` (positions on
the dead-letter topic, inclusive; several separated by commas). A position is ``partition:offset`` of the
dead-letter topic.

Redrive never routes around the gatekeeper. A record goes back only to its own source topic, only if the
catalog marks that topic ``redrivable`` (dispatch topics never are: a failed approval is redone by redriving
its request), and only if it decodes again as a valid event declared for that topic. Anything else is refused
with one line naming why, and the rest goes on. A record on the dead-letter topic that is not a dead letter is
skipped with its position, never printed. ``--dry-run`` shows what would be sent and sends nothing.

Exit status: 0 when everything chosen was done, 1 when some records were skipped or refused (after doing
the rest), 2 for bad usage (nothing sent).
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.events import DeadLetter
from schemas.topics import DEADLETTER, DISPATCH, declared
from services.core import codec
from services.core.catalog import Catalog, load_catalog
from services.core.cli import Command, main
from services.core.deadletter import original
from services.core.runtime import clients
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader
from services.core.settings import CommonSettings, ConfigError, load

CLIENT_ID = "collections-redrive"
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a record is on the dead-letter topic."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets ``first`` to ``last`` (inclusive) of one partition of the dead-letter topic."""

    partition: int
    first: int
    last: int

    def __contains__(self, position: Position) -> bool:
        return position.partition == self.partition and self.first <= position.offset <= self.last


OFFSETS_FORM = "PARTITION:FROM-TO or PARTITION:OFFSET on the dead-letter topic, e.g. 1:10-20,2:7"
_SPAN = re.compile(r"(\d+):(\d+)(?:-(\d+))?")
_BARE = re.compile(r"\d+(?:-\d+)?")


def parse_offsets(text: str) -> tuple[Span, ...]:
    """``--offsets``: one or more ``PARTITION:FROM-TO`` (or ``PARTITION:OFFSET``) separated by commas.

    An offset alone names a record on every partition of the dead-letter topic: it is refused."""
    spans = []
    for part in (piece.strip() for piece in text.split(",")):
        match = _SPAN.fullmatch(part)
        if match is None:
            missing = "names no partition" if _BARE.fullmatch(part) else "is not a selection"
            raise argparse.ArgumentTypeError(f"{part[:40]!r} {missing}: write {OFFSETS_FORM}")
        partition, first, last = int(match[1]), int(match[2]), int(match[3] or match[2])
        if last < first:
            raise argparse.ArgumentTypeError(f"{part!r}: the range ends before it starts")
        spans.append(Span(partition, first, last))
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class Selection:
    source_topic: str | None = None
    reason: str | None = None
    consumer: str | None = None
    spans: tuple[Span, ...] = ()  # none: every position

    def partitions(self) -> set[int] | None:
        """The partitions of the dead-letter topic worth reading (None: all)."""
        return {span.partition for span in self.spans} if self.spans else None

    def covers(self, position: Position) -> bool:
        return not self.spans or any(position in span for span in self.spans)

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.source_topic is None or letter.source_topic == self.source_topic)
            and (self.reason is None or letter.reason == self.reason)
            and (self.consumer is None or letter.consumer == self.consumer)
        )


@dataclass(frozen=True, slots=True)
class Found:
    position: Position
    letter: DeadLetter


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record on the dead-letter topic that is not a dead letter: known by its position only."""

    position: Position
    reason: str  # never its content: a fixed text and a codec reason or an event type


@dataclass(frozen=True, slots=True)
class Scan:
    letters: list[Found]  # in the order they failed
    skipped: list[Skipped]


def as_letter(
    position: Position, key: bytes | None, value: bytes | None, headers: codec.Headers
) -> Found | Skipped:
    """A record of the dead-letter topic as a dead letter, decoded as every consumer decodes."""
    try:
        envelope = codec.decode(key, value, headers)
    except codec.DecodeError as exc:
        return Skipped(position, f"not a DeadLetter ({exc.reason})")
    if not isinstance(envelope.event, DeadLetter):
        return Skipped(position, f"not a DeadLetter (a {envelope.type})")
    return Found(position, envelope.event)


async def read(settings: CommonSettings, selection: Selection) -> Scan:
    """The dead letters currently on the topic that match ``selection``, and the records at the chosen
    positions that are not dead letters."""
    letters: list[Found] = []
    skipped: list[Skipped] = []
    wanted = selection.partitions()
    async with TopicReader.connect(settings, CLIENT_ID, large=True) as reader:
        # A wrong prefix would otherwise read as a topic without dead letters.
        await clients.require_topics(reader.consumer, settings, [settings.topic(DEADLETTER)])
        partitions = await reader.partitions(settings.topic(DEADLETTER))
        async for records in reader.replay(
            [tp for tp in partitions if wanted is None or tp.partition in wanted]
        ):
            for record in records:
                position = Position(record.partition, record.offset)
                if not selection.covers(position):
                    continue
                found = as_letter(position, record.key, record.value, record.headers)
                if isinstance(found, Skipped):
                    skipped.append(found)
                elif selection.matches(found.letter):
                    letters.append(found)
    letters.sort(key=lambda item: (item.letter.failed_at, item.position))
    skipped.sort(key=lambda item: item.position)
    return Scan(letters, skipped)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record that passed every check, for its source topic (the physical name)."""

    where: str  # its position on the dead-letter topic, or its line in an import file
    topic: str
    type: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True, slots=True)
class Refused:
    where: str
    reason: str  # one line, never the payload


def check(
    where: str,
    source_topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    *,
    catalog: Catalog,
    prefix: str,
) -> Outgoing | Refused:
    """Whether a record may go back to ``source_topic`` (physical): a redrivable topic of the catalog, and the
    record a valid event declared for it."""
    shown = _clean(source_topic, 200)
    logical = source_topic.removeprefix(prefix) if source_topic.startswith(prefix) else None
    try:
        spec = catalog.spec(logical or "")
    except KeyError:
        return Refused(where, f"source topic {shown} is not a catalog topic of this deployment")
    if not spec.redrivable:
        hint = (
            "; an approval is never redriven: redrive its contact request, and the gatekeeper decides again"
            if spec.name in DISPATCH.values()
            else ""
        )
        return Refused(where, f"source topic {shown} is not redrivable{hint}")
    try:
        envelope = codec.decode(key, value, headers)
    except codec.DecodeError as exc:
        return Refused(where, f"not a valid record: {exc.reason}: {exc.message}")
    if not declared(spec.name, envelope.event):
        return Refused(where, f"wrong_topic: {envelope.type} is not declared for {spec.name}")
    return Outgoing(where, source_topic, envelope.type, key, value, headers)


def plan_letters(letters: Sequence[Found], catalog: Catalog, prefix: str) -> list[Outgoing | Refused]:
    """Each dead letter's original record, checked for its source topic."""
    planned: list[Outgoing | Refused] = []
    for found in letters:
        where = str(found.position)
        try:
            key, value, headers = original(found.letter)
        except binascii.Error:
            planned.append(Refused(where, "its original key, value or headers are not valid base64"))
            continue
        planned.append(
            check(where, found.letter.source_topic, key, value, headers, catalog=catalog, prefix=prefix)
        )
    return planned


class ExportedLetter(BaseModel):
    """One line of ``export``, as ``import`` reads it back (position, reason and error are for the reader)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    deadletter_partition: int | None = None
    deadletter_offset: int | None = None
    source_topic: str
    reason: str | None = None
    error: str | None = None
    key: str | None
    value: str | None
    headers: dict[str, str]


class BadImportFile(Exception):
    """An import file that is not what ``export`` writes: nothing in it is republished."""


def plan_lines(lines: Sequence[bytes], catalog: Catalog, prefix: str) -> list[Outgoing | Refused]:
    """Each corrected line checked for its source topic; ``BadImportFile`` if a line is not an export's."""
    items: list[tuple[int, ExportedLetter]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append((number, ExportedLetter.model_validate_json(line)))
        except ValidationError as exc:
            raise BadImportFile(_line_error(number, exc)) from exc
    return [
        check(
            f"line {number}",
            item.source_topic,
            _encoded(item.key),
            _encoded(item.value),
            [(name, raw.encode()) for name, raw in item.headers.items()],
            catalog=catalog,
            prefix=prefix,
        )
        for number, item in items
    ]


def _line_error(number: int, exc: ValidationError) -> str:
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return f"line {number} is not JSON"
    first = errors[0]
    location = ".".join(str(part) for part in first["loc"]) or "<line>"
    return f"line {number} is not an exported dead letter ({location}: {first['msg']})"


def _encoded(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


@dataclass(frozen=True, slots=True)
class Outcome:
    results: list[Outgoing | Refused]  # in the order they were chosen
    sent: bool  # False for a dry run

    @property
    def outgoing(self) -> list[Outgoing]:
        return [item for item in self.results if isinstance(item, Outgoing)]

    @property
    def refused(self) -> list[Refused]:
        return [item for item in self.results if isinstance(item, Refused)]


async def put_back(
    settings: CommonSettings, planned: list[Outgoing | Refused], *, dry_run: bool = False
) -> Outcome:
    """Publish the records that passed their checks, in order, and wait for the broker's acknowledgement."""
    outcome = Outcome(planned, sent=not dry_run)
    if dry_run or not outcome.outgoing:
        return outcome
    await clients.check_topics(settings, sorted({record.topic for record in outcome.outgoing}), CLIENT_ID)
    producer = KafkaConnector(settings).producer(CLIENT_ID)
    publisher = Publisher(producer, settings, "redrive", "/collections/redrive")
    await publisher.start()
    try:
        for record in outcome.outgoing:
            publisher.queue(record.topic, record.key, record.value, record.headers)
        await publisher.flush()
    finally:
        await publisher.stop()
    return outcome


async def replay(
    settings: CommonSettings,
    letters: Sequence[Found],
    *,
    catalog: Catalog | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Put the dead letters' original records back, unchanged, where their checks allow."""
    planned = plan_letters(letters, catalog or load_catalog(), settings.topic_prefix)
    return await put_back(settings, planned, dry_run=dry_run)


async def import_lines(
    settings: CommonSettings,
    lines: Sequence[bytes],
    *,
    catalog: Catalog | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Put corrected lines of an export back where their checks allow; ``BadImportFile`` sends nothing."""
    planned = plan_lines(lines, catalog or load_catalog(), settings.topic_prefix)
    return await put_back(settings, planned, dry_run=dry_run)


def export_lines(letters: Sequence[Found]) -> list[bytes]:
    lines = []
    for found in letters:
        letter = found.letter
        key, value, headers = original(letter)
        lines.append(
            orjson.dumps(
                {
                    "deadletter_partition": found.position.partition,
                    "deadletter_offset": found.position.offset,
                    "source_topic": letter.source_topic,
                    "reason": letter.reason,
                    "error": letter.error,
                    "key": key.decode(errors="replace") if key is not None else None,
                    "headers": {name: raw.decode(errors="replace") for name, raw in headers},
                    "value": value.decode(errors="replace") if value is not None else None,
                }
            )
        )
    return lines


def _clean(text: str, limit: int) -> str:
    """``text`` from a record, safe on one terminal line: whitespace folded, control characters replaced."""
    folded = " ".join(text.split())
    return "".join(c if c.isprintable() else "?" for c in folded[:limit])


def _size(b64: str | None) -> int:
    return len(b64) * 3 // 4 - b64.count("=") if b64 else 0


def _row(found: Found) -> str:
    letter = found.letter
    return (
        f"{found.position!s:>9} {letter.failed_at.isoformat()} {_clean(letter.consumer, 40):12} "
        f"{letter.reason:17} {_clean(letter.source_topic, 200)}[{letter.source_partition}]@"
        f"{letter.source_offset} {_size(letter.value_b64)}B {_clean(letter.error, 120)}"
    )


def _say_skipped(skipped: Sequence[Skipped]) -> None:
    for item in skipped:
        print(f"{item.position} skipped: {item.reason}", file=sys.stderr)


def _counts(refused: int, skipped: int) -> str:
    return "".join(
        f", {count} {what}" for count, what in ((refused, "refused"), (skipped, "skipped")) if count
    )


def _report(outcome: Outcome, skipped: Sequence[Skipped]) -> int:
    _say_skipped(skipped)
    verb = "sent" if outcome.sent else "would send"
    for item in outcome.results:
        if isinstance(item, Refused):
            print(f"{item.where} refused: {_clean(item.reason, 400)}", file=sys.stderr)
        else:
            print(f"{item.where} {verb} {item.type} to {item.topic}")
    done = "republished" if outcome.sent else "would be republished (dry run: nothing sent)"
    print(f"{len(outcome.outgoing)} records {done}{_counts(len(outcome.refused), len(skipped))}")
    return 1 if outcome.refused or skipped else 0


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-topic", help="the dead letters of this topic (its full name)")
    parser.add_argument("--reason", help="the dead letters of this reason")
    parser.add_argument("--consumer", help="the dead letters of this consumer")
    parser.add_argument(
        "--offsets", type=parse_offsets, default=(), help=f"{OFFSETS_FORM}; offsets are inclusive"
    )


def _dry_run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be sent (position, type, topic); send nothing"
    )


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(args.source_topic, args.reason, args.consumer, args.offsets)


def configure_replay(parser: argparse.ArgumentParser) -> None:
    _selection_options(parser)
    _dry_run_option(parser)


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    _selection_options(parser)


def configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    _dry_run_option(parser)


def run_list(args: argparse.Namespace) -> int:
    scan = asyncio.run(read(load(CommonSettings), _selection(args)))
    for found in scan.letters:
        print(_row(found))
    _say_skipped(scan.skipped)
    print(f"{len(scan.letters)} dead letters{_counts(0, len(scan.skipped))}")
    return 1 if scan.skipped else 0


def run_replay(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    catalog = load_catalog()
    scan = asyncio.run(read(settings, _selection(args)))
    outcome = asyncio.run(replay(settings, scan.letters, catalog=catalog, dry_run=args.dry_run))
    return _report(outcome, scan.skipped)


def run_export(args: argparse.Namespace) -> int:
    scan = asyncio.run(read(load(CommonSettings), _selection(args)))
    try:
        args.file.write_bytes(b"".join(line + b"\n" for line in export_lines(scan.letters)))
    except OSError as exc:
        raise ConfigError(f"{args.file}: cannot write it: {exc.strerror}") from exc
    _say_skipped(scan.skipped)
    print(f"{len(scan.letters)} dead letters written to {args.file}{_counts(0, len(scan.skipped))}")
    return 1 if scan.skipped else 0


def run_import(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    catalog = load_catalog()
    try:
        lines = args.file.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(f"{args.file}: cannot read it: {exc.strerror}") from exc
    try:
        planned = plan_lines(lines, catalog, settings.topic_prefix)
    except BadImportFile as exc:
        raise ConfigError(f"{args.file}: {exc}; nothing was republished") from exc
    return _report(asyncio.run(put_back(settings, planned, dry_run=args.dry_run)), [])


COMMANDS = {
    "list": Command("print the chosen dead letters (never their payload)", _selection_options, run_list),
    "replay": Command(
        "republish the chosen dead letters unchanged to their source topics", configure_replay, run_replay
    ),
    "export": Command(
        "write the chosen dead letters as JSON lines to correct by hand", configure_export, run_export
    ),
    "import": Command("republish corrected lines to their source topics", configure_import, run_import),
}

if __name__ == "__main__":
    sys.exit(main("python -m services.core.redrive", COMMANDS, description=__doc__))
