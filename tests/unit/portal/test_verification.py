"""The knowledge factors' normalization and keyed hash, as core banking and the portal both compute them."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from schemas.events import KnowledgeFactorKind as K
from schemas.verification import factor_hash, matches, normalize

KEY = b"bank-key-0123456789abcdef"


@pytest.mark.parametrize(
    ("kind", "typed", "normal"),
    [
        (K.DATE_OF_BIRTH, "1980-03-07", "1980-03-07"),
        (K.DATE_OF_BIRTH, " 1980-3-7 ", "1980-03-07"),
        (K.DATE_OF_BIRTH, "1980-02-30", None),
        (K.DATE_OF_BIRTH, "07/03/1980", None),
        (K.POSTCODE, "sw1a 1aa", "SW1A1AA"),
        (K.POSTCODE, "SW1A-1AA", "SW1A1AA"),
        (K.POSTCODE, "10001", "10001"),
        (K.POSTCODE, "1", None),
        (K.POSTCODE, "１０００１", None),  # full-width digits are not the postcode on file
        (K.ACCOUNT_LAST4, "…1234", "1234"),
        (K.ACCOUNT_LAST4, "9876 5432 1234", "1234"),
        (K.ACCOUNT_LAST4, "123", None),
        (K.ACCOUNT_LAST4, "x" * 65, None),
    ],
)
def test_normalize(kind: K, typed: str, normal: str | None) -> None:
    assert normalize(kind, typed) == normal


def test_the_hash_is_hmac_sha256_of_the_kind_and_the_normalized_value() -> None:
    expected = hmac.new(KEY, b"postcode\nSW1A1AA", hashlib.sha256).hexdigest()
    assert factor_hash(KEY, K.POSTCODE, "sw1a 1aa") == expected
    assert matches(KEY, K.POSTCODE, "SW1A 1AA", expected)
    assert not matches(KEY, K.POSTCODE, "SW1A 1AB", expected)
    assert not matches(b"another-bank-key-000000", K.POSTCODE, "SW1A 1AA", expected)


def test_the_kind_separates_equal_values() -> None:
    assert factor_hash(KEY, K.POSTCODE, "1234") != factor_hash(KEY, K.ACCOUNT_LAST4, "1234")


def test_a_value_that_does_not_normalize_never_matches() -> None:
    assert factor_hash(KEY, K.DATE_OF_BIRTH, "yesterday") is None
    assert not matches(KEY, K.DATE_OF_BIRTH, "yesterday", "0" * 64)
