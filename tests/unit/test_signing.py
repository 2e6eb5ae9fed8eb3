"""Approval signatures: what verifies and what does not (the record's own topic, key, id, type, time and
value are covered), keys in force during a rotation, and the key format."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.core import signing

TOPIC, KEY, VALUE = "collections.dispatch.sms.v1", b"d-1", b'{"request_id":"r-1"}'
HEADERS = [
    ("ce_id", b"id-1"),
    ("ce_type", b"collections.ContactApproved.v1"),
    ("ce_time", b"2026-06-10T15:00:00+00:00"),
]


def pair() -> tuple[signing.ApprovalSigner, str]:
    private, public = signing.generate()
    return signing.ApprovalSigner(SecretStr(private)), public


def test_a_signed_record_verifies_with_the_public_key_only() -> None:
    signer, public = pair()
    headers = [*HEADERS, *signer.sign(TOPIC, KEY, HEADERS, VALUE)]
    signing.ApprovalVerifier([public]).verify(TOPIC, KEY, headers, VALUE)
    assert signing.public_of(SecretStr(signing.generate()[0])) != public


@pytest.mark.parametrize(
    ("topic", "key", "value", "change"),
    [
        ("collections.dispatch.voice.v1", KEY, VALUE, None),
        (TOPIC, b"d-2", VALUE, None),
        (TOPIC, KEY, VALUE + b" ", None),
        (TOPIC, KEY, VALUE, ("ce_id", b"id-2")),
        (TOPIC, KEY, VALUE, ("ce_time", b"2026-06-11T15:00:00+00:00")),
        (TOPIC, KEY, VALUE, ("ce_type", b"collections.ContactRequested.v1")),
    ],
    ids=["other topic", "other key", "other value", "other id", "other time", "other type"],
)
def test_anything_changed_after_signing_does_not_verify(
    topic: str, key: bytes, value: bytes, change: tuple[str, bytes] | None
) -> None:
    signer, public = pair()
    headers = [*HEADERS, *signer.sign(TOPIC, KEY, HEADERS, VALUE)]
    if change is not None:
        headers = [change if name == change[0] else (name, raw) for name, raw in headers]
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.ApprovalVerifier([public]).verify(topic, key, headers, value)


def test_unsigned_and_unknown_keys_are_refused_and_two_keys_verify_during_a_rotation() -> None:
    old, old_public = pair()
    new, new_public = pair()
    with pytest.raises(signing.SignatureError, match="unsigned"):
        signing.ApprovalVerifier([old_public]).verify(TOPIC, KEY, HEADERS, VALUE)
    by_new = [*HEADERS, *new.sign(TOPIC, KEY, HEADERS, VALUE)]
    with pytest.raises(signing.SignatureError, match="not in force"):
        signing.ApprovalVerifier([old_public]).verify(TOPIC, KEY, by_new, VALUE)
    both = signing.ApprovalVerifier([old_public, new_public])
    both.verify(TOPIC, KEY, by_new, VALUE)
    both.verify(TOPIC, KEY, [*HEADERS, *old.sign(TOPIC, KEY, HEADERS, VALUE)], VALUE)
    assert sorted(both.key_ids) == sorted([old.key_id, new.key_id])


def test_garbage_signatures_are_refused_not_raised() -> None:
    signer, public = pair()
    headers = [
        *HEADERS,
        (signing.SIGNATURE_HEADER, b"!!not base64"),
        (signing.KEY_ID_HEADER, signer.key_id.encode()),
    ]
    with pytest.raises(signing.SignatureError):
        signing.ApprovalVerifier([public]).verify(TOPIC, KEY, headers, VALUE)


@pytest.mark.parametrize("text", ["", "ed25519:", "ed25519:AAAA", "rsa:" + "A" * 43, "ed25519:" + "!" * 43])
def test_malformed_keys_are_refused_at_start(text: str) -> None:
    with pytest.raises(ValueError, match="key"):
        signing.ApprovalVerifier([text])
