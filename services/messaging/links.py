"""Signed tokens for the links the platform hands out: the unsubscribe link in every email and the request
context in the Twilio callback and answer URLs. The channel workers sign, the webhooks service verifies.

A token is ``base64url(JSON payload) "." base64url(HMAC-SHA256)``. It is signed, not encrypted: the payload
holds ids (and, for a call, what the menu says) that Twilio and the addressee see anyway; that is why no
service logs query strings. Keys rotate: the first key signs, every configured key verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

import orjson
from pydantic import SecretStr


class LinkSigner:
    def __init__(self, keys: Sequence[SecretStr]) -> None:
        if not keys:
            raise ValueError("at least one link signing key is required")
        self._keys = [key.get_secret_value().encode() for key in keys]

    def sign(self, payload: Mapping[str, object]) -> str:
        body = _b64(orjson.dumps(dict(payload), option=orjson.OPT_SORT_KEYS))
        return f"{body}.{_b64(_mac(self._keys[0], body))}"

    def fingerprint(self, text: str) -> str:
        """A short keyed digest of ``text`` (an address a token must name without showing it)."""
        return _fingerprint(self._keys[0], text)

    def fingerprints(self, text: str) -> set[str]:
        """``text``'s fingerprint under every configured key: what a token signed before a rotation holds."""
        return {_fingerprint(key, text) for key in self._keys}

    def verify(self, token: str) -> dict[str, object] | None:
        """The payload of a token signed with any configured key, or None for anything else."""
        body, dot, signature = token.partition(".")
        if not dot or not body or len(token) > 8192:
            return None
        try:
            given = _unb64(signature)
        except ValueError:
            return None
        if not any(hmac.compare_digest(_mac(key, body), given) for key in self._keys):
            return None
        try:
            payload = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        return payload if isinstance(payload, dict) else None


def _fingerprint(key: bytes, text: str) -> str:
    # Domain-separated from the token MACs, so that no fingerprint is ever a valid signature.
    return _b64(hmac.new(key, b"fingerprint\x1f" + text.encode(), hashlib.sha256).digest()[:9])


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
