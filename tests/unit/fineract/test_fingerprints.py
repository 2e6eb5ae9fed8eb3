"""Our transcription of Fineract's schemas reads exactly what Fineract writes.

``canonical/<release>.json`` holds, for each top-level type, the Parsing Canonical Form computed from
Fineract's own ``.avsc`` files at that release after its build's ``bigdecimal`` substitution, and that
form's fingerprint (``python -m devtools.fineract_schemas`` writes it; Avro Java 1.11.3 and 1.12.0 give
the same forms and fingerprints). A record is read only if its fingerprint is one of these, so our
transcription must canonicalize to the very same text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.fineract import avro

CANONICAL = Path(__file__).parent / "canonical"
RELEASES = sorted(p.stem for p in CANONICAL.glob("*.json"))
DOC = Path(__file__).resolve().parents[3] / "docs" / "fineract.md"


def crc64_avro(data: bytes) -> bytes:
    """CRC-64-AVRO as the Avro specification defines it, written out here rather than taken from fastavro,
    in the byte order Avro Java puts on the wire (little-endian)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def fineract(release: str) -> dict[str, dict[str, str]]:
    return json.loads((CANONICAL / f"{release}.json").read_text(encoding="utf-8"))


def test_the_supported_releases_are_the_transcribed_ones() -> None:
    assert RELEASES == ["1.10.1", "develop-4198b0bc"]
    assert avro.REGISTRY.releases == tuple(RELEASES)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", avro.TOP_LEVEL, ids=lambda n: n.rsplit(".", 1)[1])
def test_transcription_has_fineracts_canonical_form_and_fingerprint(release: str, name: str) -> None:
    theirs = fineract(release)[name]
    assert crc64_avro(theirs["canonical_form"].encode()).hex() == theirs["fingerprint"]
    ours = avro.canonical_form(avro.SCHEMA_DIR / release, name)
    assert ours == theirs["canonical_form"]
    assert avro.REGISTRY.fingerprints(release)[name] == theirs["fingerprint"]


def test_money_is_decimal_bytes_and_parsing_ignores_the_logical_type() -> None:
    # The substitution happens before fingerprinting, and the canonical form keeps only "bytes": a
    # decimal(20, 8) and a plain bytes field fingerprint alike, so the scale is ours to get right.
    form = fineract("1.10.1")[avro.LOAN_REPAYMENT_DUE]["canonical_form"]
    assert '{"name":"totalAmountDue","type":["null","bytes"]}' in form
    text = (
        avro.SCHEMA_DIR / "1.10.1" / "org.apache.fineract.avro.loan.v1.RepaymentDueDataV1.avsc"
    ).read_text()
    assert '"logicalType": "decimal", "precision": 20, "scale": 8' in text
    assert "bigdecimal" not in text


def test_a_nested_change_changes_only_the_parents_fingerprint() -> None:
    # Between the releases LoanSummaryDataV1 and CollectionDataV1 gained fields; only LoanAccountDataV1
    # nests them, so it alone is read with two schemas.
    old, new = (avro.REGISTRY.fingerprints(r) for r in RELEASES)
    assert [n for n in avro.TOP_LEVEL if old[n] != new[n]] == [avro.LOAN_ACCOUNT]


def test_the_doc_lists_every_fingerprint() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for release in RELEASES:
        for name, fp in avro.REGISTRY.fingerprints(release).items():
            assert f"| {release} | {name.rsplit('.', 1)[1]} | `{fp}` |" in doc
