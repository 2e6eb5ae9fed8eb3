"""Fineract's wire format: Avro single-object encoding, with every schema known by its fingerprint.

A record value is ``C3 01``, the 8-byte CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical
Form (little-endian), then the Avro binary body. ``MessageV1.data`` holds the payload encoded the same
way, and a bulk payload's items hold theirs the same way again. Fineract uses no schema registry, and its
schemas change without changing their names, so the fingerprints of each release transcribed under
``avsc/<release>/`` are computed here at import and a record is read only with the exact schema it was
written with.

Every failure is one exception, ``FineractDecodeError``, whose ``reason`` says what was wrong::

    FineractDecodeError
        bad_magic            not single-object encoded (no C3 01)
        truncated            shorter than its header or its schema says
        trailing_bytes       longer than its schema says
        invalid_avro         bytes the schema cannot read (bad union index, bad UTF-8)
        unknown_fingerprint  written with a schema of no release we know (names the type it claims)
        unknown_type         a known schema, but not of the type expected there
        missing_field        a field the translation needs is null          (raised by the translation)
        bad_value            a field that does not parse (a date, a number) (raised by the translation)
        too_many_decimals    an amount finer than its currency allows       (raised by the translation)

Messages name schemas, fields and byte counts, never the values: payloads hold personal data.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastavro import schemaless_reader
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form
from fastavro.types import Schema

SCHEMA_DIR = Path(__file__).resolve().parent / "avsc"

MAGIC = b"\xc3\x01"
HEADER_BYTES = len(MAGIC) + 8

_ROOT = "org.apache.fineract.avro"
MESSAGE = f"{_ROOT}.MessageV1"
BULK = f"{_ROOT}.BulkMessagePayloadV1"
LOAN_ACCOUNT = f"{_ROOT}.loan.v1.LoanAccountDataV1"
LOAN_REPAYMENT_DUE = f"{_ROOT}.loan.v1.LoanRepaymentDueDataV1"
LOAN_DELINQUENCY = f"{_ROOT}.loan.v1.LoanAccountDelinquencyRangeDataV1"
LOAN_TRANSACTION = f"{_ROOT}.loan.v1.LoanTransactionDataV1"
LOAN_ADJUSTMENT = f"{_ROOT}.loan.v1.LoanTransactionAdjustmentDataV1"
CLIENT = f"{_ROOT}.client.v1.ClientDataV1"
PAYLOADS = (LOAN_ACCOUNT, LOAN_REPAYMENT_DUE, LOAN_DELINQUENCY, LOAN_TRANSACTION, LOAN_ADJUSTMENT, CLIENT)
# The types a record or a payload can be; every other named type is only nested inside these.
TOP_LEVEL = (MESSAGE, BULK, *PAYLOADS)

Reason = Literal[
    "bad_magic",
    "truncated",
    "trailing_bytes",
    "invalid_avro",
    "unknown_fingerprint",
    "unknown_type",
    "missing_field",
    "bad_value",
    "too_many_decimals",
]


class FineractDecodeError(Exception):
    """A Fineract record the adapter cannot read or translate; ``reason`` is machine-readable."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class KnownSchema:
    """One top-level schema as some releases wrote it."""

    name: str
    fingerprint: bytes  # as it appears on the wire, after C3 01
    releases: tuple[str, ...]
    parsed: Schema

    @property
    def hex(self) -> str:
        return self.fingerprint.hex()


class Registry:
    """The schemas of every transcribed release, by fingerprint."""

    def __init__(self, schemas: Iterable[KnownSchema]) -> None:
        self._by_fingerprint = {s.fingerprint: s for s in schemas}

    def get(self, fp: bytes) -> KnownSchema | None:
        return self._by_fingerprint.get(fp)

    @property
    def releases(self) -> tuple[str, ...]:
        return tuple(sorted({r for s in self._by_fingerprint.values() for r in s.releases}))

    def fingerprints(self, release: str) -> dict[str, str]:
        """Full name -> fingerprint (hex, wire order) of each top-level type of ``release``."""
        return {
            s.name: s.hex
            for s in sorted(self._by_fingerprint.values(), key=lambda s: TOP_LEVEL.index(s.name))
            if release in s.releases
        }


def canonical_form(release_dir: Path, name: str) -> str:
    """The Parsing Canonical Form of top-level type ``name`` as transcribed in ``release_dir``."""
    return to_parsing_canonical_form(_load(release_dir, name))


def _load(release_dir: Path, name: str) -> Schema:
    # fastavro resolves each named type a schema refers to from "<full name>.avsc" beside it.
    return load_schema(str(release_dir / f"{name}.avsc"))


def load_registry(root: Path = SCHEMA_DIR) -> Registry:
    """Parse every release under ``root``; a release missing a top-level type is a broken transcription."""
    found: dict[bytes, tuple[str, list[str], Schema]] = {}
    for release_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for name in TOP_LEVEL:
            parsed = _load(release_dir, name)
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
            if fp in found:
                found[fp][1].append(release_dir.name)
            else:
                found[fp] = (name, [release_dir.name], parsed)
    return Registry(KnownSchema(n, fp, tuple(r), p) for fp, (n, r, p) in found.items())


REGISTRY = load_registry()


def decode(data: bytes, expect: str, registry: Registry = REGISTRY) -> tuple[KnownSchema, dict[str, Any]]:
    """Read one single-object encoded record that should be of type ``expect`` (a full name)."""
    if not data.startswith(MAGIC) and not MAGIC.startswith(data):
        raise FineractDecodeError("bad_magic", f"expected {expect} in single-object encoding (C3 01)")
    if len(data) < HEADER_BYTES:
        raise FineractDecodeError(
            "truncated", f"{len(data)} bytes, shorter than the {HEADER_BYTES}-byte header"
        )
    known = registry.get(data[len(MAGIC) : HEADER_BYTES])
    if known is None:
        raise FineractDecodeError(
            "unknown_fingerprint",
            f"{expect} written with schema fingerprint {data[2:HEADER_BYTES].hex()}, "
            f"not one of the releases {', '.join(registry.releases)}",
        )
    if known.name != expect:
        raise FineractDecodeError("unknown_type", f"expected {expect}, found {known.name}")
    body = io.BytesIO(data)
    body.seek(HEADER_BYTES)
    try:
        record = schemaless_reader(body, known.parsed, None)
    except EOFError as exc:
        raise FineractDecodeError("truncated", f"{known.name} body ends early ({len(data)} bytes)") from exc
    except (IndexError, ValueError, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        # fastavro's own messages may quote the bytes it read, so they stay out of ours.
        raise FineractDecodeError("invalid_avro", f"{known.name} body is not valid Avro") from exc
    if body.tell() != len(data):
        raise FineractDecodeError("trailing_bytes", f"{known.name} ends at byte {body.tell()} of {len(data)}")
    if not isinstance(record, dict):
        raise FineractDecodeError("unknown_type", f"{known.name} is not a record")
    return known, record


def record_key(key: bytes | None) -> int | None:
    """The id a record is keyed by: the loan's for loan events, the client's for client events, as an
    8-byte big-endian long (Kafka's LongSerializer); None for Fineract's -1, an event of no aggregate."""
    if key is None:
        return None
    if len(key) != 8:
        raise FineractDecodeError("bad_value", f"record key of {len(key)} bytes, expected 8")
    value = int.from_bytes(key, "big", signed=True)
    return None if value == -1 else value
