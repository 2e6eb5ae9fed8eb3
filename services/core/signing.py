"""Signed approvals: only the gatekeeper can make a contact happen.

The gatekeeper signs every ``ContactApproved`` record with Ed25519. The signature covers the record as the
broker holds it: its topic, key, ``ce_id``, ``ce_type``, ``ce_time`` and value bytes, so an approval that is
forged, altered, or copied to another topic or key does not verify. Signature and key id travel in two
CloudEvents extension headers. Channel workers and the audit hold only public keys: they can check an
approval, never make one. Two public keys may be accepted at once, for a rotation.

Keys are written ``ed25519:<base64url>``: the 32-byte private seed for the gatekeeper, the 32-byte public key
for everyone else. A key's id is derived from its public key, so the two sides cannot disagree about it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

from schemas.events import ContactApproved

SIGNATURE_HEADER = "ce_signature"
KEY_ID_HEADER = "ce_signingkey"
_PREFIX = "ed25519:"
_SIGNED_HEADERS = ("ce_id", "ce_type", "ce_time")

Headers = Sequence[tuple[str, bytes]]


class SignatureError(Exception):
    """A record that does not carry a valid gatekeeper signature; the message says why, naming no data."""


def signed_bytes(topic: str, key: bytes | None, headers: Headers, value: bytes | None) -> bytes:
    """What is signed: each part length-prefixed, so that no two records share the same bytes."""
    found = {name: raw for name, raw in headers if name in _SIGNED_HEADERS}
    parts = [topic.encode(), key or b"", *(found.get(name, b"") for name in _SIGNED_HEADERS), value or b""]
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _decode(text: str) -> bytes:
    if not text.startswith(_PREFIX):
        raise ValueError(f"a key is written {_PREFIX}<base64url>")
    body = text.removeprefix(_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise ValueError("a key is not base64url after its prefix") from exc
    if len(raw) != 32:
        raise ValueError("an Ed25519 key is 32 bytes")
    return raw


def _encode(raw: bytes) -> str:
    return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _private(value: SecretStr) -> SecretStr:
    _decode(value.get_secret_value())
    return value


def _public(value: str) -> str:
    _decode(value)
    return value


def _split(value: object) -> object:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


# Settings types: the gatekeeper's private key, and the public keys in force (comma-separated, at most two).
SigningKey = Annotated[SecretStr, AfterValidator(_private)]
VerifyKeys = Annotated[
    list[Annotated[str, AfterValidator(_public)]],
    NoDecode,
    BeforeValidator(_split),
    Field(min_length=1, max_length=2),
]


def generate() -> tuple[str, str]:
    """A new key pair: (private, for the gatekeeper; public, for the workers and the audit)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _encode(seed), _encode(public)


def public_of(private: SecretStr) -> str:
    key = Ed25519PrivateKey.from_private_bytes(_decode(private.get_secret_value()))
    return _encode(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


class ApprovalSigner:
    """The gatekeeper's side."""

    def __init__(self, private: SecretStr) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(_decode(private.get_secret_value()))
        self.key_id = key_id(self._key.public_key())

    @staticmethod
    def applies_to(event: BaseModel) -> bool:
        """Approvals are signed; nothing else the gatekeeper writes makes a contact happen."""
        return isinstance(event, ContactApproved)

    def sign(
        self, topic: str, key: bytes | None, headers: Headers, value: bytes | None
    ) -> list[tuple[str, bytes]]:
        """The headers to add to the record: its signature and the signing key's id."""
        signature = self._key.sign(signed_bytes(topic, key, headers, value))
        return [(SIGNATURE_HEADER, base64.b64encode(signature)), (KEY_ID_HEADER, self.key_id.encode())]


class ApprovalVerifier:
    """The workers' and the audit's side: public keys only."""

    def __init__(self, public_keys: Iterable[str]) -> None:
        keys = [Ed25519PublicKey.from_public_bytes(_decode(text)) for text in public_keys]
        self._keys: Mapping[str, Ed25519PublicKey] = {key_id(k): k for k in keys}

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, topic: str, key: bytes | None, headers: Headers, value: bytes | None) -> None:
        """Return if the record carries a valid signature by a key in force; raise ``SignatureError``."""
        found = dict(headers)
        signature, signer = found.get(SIGNATURE_HEADER), found.get(KEY_ID_HEADER)
        if signature is None or signer is None:
            raise SignatureError("unsigned")
        public = self._keys.get(signer.decode(errors="replace"))
        if public is None:
            raise SignatureError("signed with a key not in force")
        try:
            public.verify(
                base64.b64decode(signature, validate=True), signed_bytes(topic, key, headers, value)
            )
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError("the signature does not match the record") from exc
