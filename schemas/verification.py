"""The knowledge factors of the self-service portal: how core banking and the portal normalize a fact and hash
it with the bank's key, so that both sides compute the same hash from the same fact.

``factor_hash(key, kind, value) = hex(HMAC-SHA256(key, kind + "\\n" + normalize(kind, value)))``:

- date of birth: ISO ``YYYY-MM-DD`` (``1980-03-07``); a debtor may type ``1980-3-7``;
- postcode: letters and digits only, upper case (``sw1a 1aa`` and ``SW1A-1AA`` are ``SW1A1AA``);
- last 4 digits of the account: the last four digits of what is typed (``…1234`` is ``1234``).

A value that cannot be one of these normalizes to ``None`` and never matches.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from schemas.events import KnowledgeFactorKind

_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
MAX_INPUT = 64


def normalize(kind: KnowledgeFactorKind, value: str) -> str | None:
    if len(value) > MAX_INPUT:
        return None
    if kind is KnowledgeFactorKind.DATE_OF_BIRTH:
        found = _DATE.match(value)
        if found is None:
            return None
        try:
            return date(*map(int, found.groups())).isoformat()
        except ValueError:
            return None
    if kind is KnowledgeFactorKind.POSTCODE:
        text = "".join(c for c in value.upper() if c.isascii() and c.isalnum())
        return text if 2 <= len(text) <= 12 else None
    digits = "".join(c for c in value if c.isascii() and c.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


def factor_hash(key: bytes, kind: KnowledgeFactorKind, value: str) -> str | None:
    """The hash core banking puts in the profile for ``value``; ``None`` if it does not normalize."""
    normal = normalize(kind, value)
    if normal is None:
        return None
    return hmac.new(key, f"{kind.value}\n{normal}".encode(), hashlib.sha256).hexdigest()


def matches(key: bytes, kind: KnowledgeFactorKind, value: str, expected: str) -> bool:
    """Whether ``value`` is the fact behind ``expected``, compared in constant time."""
    given = factor_hash(key, kind, value)
    return given is not None and hmac.compare_digest(given, expected)
