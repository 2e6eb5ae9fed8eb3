"""Decoding Fineract's records: the envelope, the record key, and every way a record can be unreadable."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.fineract import avro
from services.fineract.settings import FineractSettings
from services.fineract.translate import DeadLetter, Ignored, Translated, decode_message, translate
from tests.unit.fineract import wire

SETTINGS = FineractSettings()


def test_the_envelope() -> None:
    record = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account())
    assert record[:2] == b"\xc3\x01"
    assert record[2:10].hex() == "1fd07bcc226c7826"  # MessageV1's fingerprint, little-endian
    message = decode_message(record)
    assert (message.tenant_id, message.idempotency_key, message.type) == (
        "default",
        wire.KEY,
        "LoanDisbursalBusinessEvent",
    )
    assert message.created_at.isoformat() == "2024-10-24T09:52:59.123456+00:00"  # UTC without an offset
    assert message.business_date.isoformat() == "2024-10-24"
    assert message.data[:2] == b"\xc3\x01"  # the payload is single-object encoded too


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (struct.pack(">q", 42), 42),
        (struct.pack(">q", -1), None),
        (None, None),
        (struct.pack(">q", 2**40), 2**40),
    ],
)
def test_the_record_key_is_a_big_endian_long(key: bytes | None, expected: int | None) -> None:
    assert avro.record_key(key) == expected


def test_a_record_key_of_another_size_is_refused() -> None:
    with pytest.raises(avro.FineractDecodeError) as err:
        avro.record_key(b"42")
    assert err.value.reason == "bad_value"


GOOD = wire.event("ClientCreateBusinessEvent", avro.CLIENT, wire.client(), category="Client")


def payload_fingerprint_changed() -> bytes:
    data = wire.encode(avro.CLIENT, wire.client())
    return wire.message("ClientCreateBusinessEvent", avro.CLIENT, data[:2] + b"\x01" * 8 + data[10:])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "truncated"),
        (b"\xc3", "truncated"),
        (b"\xc3\x01\x1f\xd0", "truncated"),
        (GOOD[:-3], "truncated"),
        (b'{"json": true}', "bad_magic"),
        (b"\x00\x01" + GOOD[2:], "bad_magic"),
        (GOOD + b"\x00", "trailing_bytes"),
        (GOOD[:2] + b"\x00" * 8 + GOOD[10:], "unknown_fingerprint"),
        (payload_fingerprint_changed(), "unknown_fingerprint"),
        # A payload where a message should be, and a message claiming the wrong payload type.
        (wire.encode(avro.CLIENT, wire.client()), "unknown_type"),
        (
            wire.message(
                "ClientCreateBusinessEvent", avro.LOAN_ACCOUNT, wire.encode(avro.CLIENT, wire.client())
            ),
            "unknown_type",
        ),
        (
            wire.message(
                "ClientCreateBusinessEvent", avro.CLIENT, wire.encode(avro.LOAN_ACCOUNT, wire.loan_account())
            ),
            "unknown_type",
        ),
        (
            wire.message("ClientCreateBusinessEvent", avro.CLIENT, wire.encode(avro.CLIENT, {})),
            "missing_field",
        ),
        (
            wire.event(
                "LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), created="yesterday"
            ),
            "bad_value",
        ),
    ],
)
def test_unreadable_records_are_dead_letters_with_a_reason(value: bytes, reason: str) -> None:
    result = translate(value, {}, SETTINGS)
    assert isinstance(result, DeadLetter), result
    assert result.reason == reason, result.detail


def test_an_unknown_payload_fingerprint_names_the_type_it_claims() -> None:
    result = translate(payload_fingerprint_changed(), {}, SETTINGS)
    assert isinstance(result, DeadLetter)
    assert result.detail.startswith("org.apache.fineract.avro.client.v1.ClientDataV1 written with schema ")
    assert "0101010101010101" in result.detail


def test_dead_letters_never_quote_the_record() -> None:
    personal = ("Alex", "Doe", "617", "555", "alex@example.com")
    client = wire.client() | {"dateOfBirth": "nope"}
    values = [
        GOOD[:-5],
        GOOD + b"\x00",
        wire.message("ClientCreateBusinessEvent", avro.CLIENT, wire.encode(avro.CLIENT, client)[:-4]),
        wire.message(
            "ClientCreateBusinessEvent", avro.CLIENT, wire.encode(avro.CLIENT, wire.client(-1) | {"id": None})
        ),
    ]
    for value in values:
        result = translate(value, {}, SETTINGS)
        assert isinstance(result, DeadLetter)
        assert not any(p in result.detail for p in personal), result.detail


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_are_translated_or_dead_lettered_never_raised(value: bytes) -> None:
    translate(avro.MAGIC + value, {}, SETTINGS)
    translate(value, {}, SETTINGS)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=10, max_value=len(GOOD) - 1), st.integers(min_value=0, max_value=255))
def test_a_corrupted_byte_never_raises(position: int, byte: int) -> None:
    value = bytearray(GOOD)
    value[position] = byte
    # A byte of a type name or tenant may make it another event (ignored); none makes it raise.
    assert isinstance(translate(bytes(value), {}, SETTINGS), DeadLetter | Translated | Ignored)
