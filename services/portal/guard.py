"""What stands between a link and the debt: the link token's checks, the limits on wrong answers, and the
CSRF check of every form. Pure: the caller passes the time; no I/O.

- A link opens the portal when its signature verifies with a configured key, it is a portal token, and it
  was issued at most the lifetime ago (and not in the future beyond the clock skew).
- Wrong answers are counted per link and per client address in a sliding window; over the limit, that link
  or address is locked until its oldest counted attempt leaves the window. A link's window is its lifetime,
  so a locked link stays locked. Counts live in this instance's memory: with several instances behind a
  balancer each instance counts on its own (the limit per instance), which the docs say.
- Every form carries the session's CSRF secret; a form without it, or with another, is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.callbacks import PortalToken
from services.messaging.links import LinkSigner

CLOCK_SKEW = timedelta(minutes=5)
NONCE_BYTES = 16


class LinkProblem(StrEnum):
    FORGED = "forged"  # not signed by a configured key, or not a portal token
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


@dataclass(frozen=True, slots=True)
class Link:
    token: PortalToken
    fingerprint: str  # names the link in memory (attempt counts) without keeping the token itself


def open_link(signer: LinkSigner, token: str, now: datetime, lifetime: timedelta) -> Link | LinkProblem:
    parsed = PortalToken.from_payload(signer.verify(token))
    if parsed is None:
        return LinkProblem.FORGED
    issued = datetime.fromtimestamp(parsed.issued_at, tz=now.tzinfo)
    if issued - now > CLOCK_SKEW:
        return LinkProblem.NOT_YET_VALID
    if now - issued > lifetime:
        return LinkProblem.EXPIRED
    return Link(parsed, fingerprint(token))


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class Attempts:
    """Wrong answers per key (a link's fingerprint, a client address) within ``window``; bounded in keys."""

    def __init__(self, limit: int, window: timedelta, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._wrong: OrderedDict[str, deque[datetime]] = OrderedDict()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._wrong.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def locked(self, key: str, now: datetime) -> bool:
        return len(self._recent(key, now)) >= self.limit

    def left(self, key: str, now: datetime) -> int:
        return max(0, self.limit - len(self._recent(key, now)))

    def wrong(self, key: str, now: datetime) -> None:
        times = self._recent(key, now)
        times.append(now)
        self._wrong[key] = times
        self._wrong.move_to_end(key)
        while len(self._wrong) > self.max_keys:
            self._wrong.popitem(last=False)

    def forget(self, key: str) -> None:
        self._wrong.pop(key, None)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    """A form's nonce: submitting the same form twice is one action."""
    return secrets.token_urlsafe(NONCE_BYTES)


def valid_nonce(value: str) -> bool:
    return 16 <= len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def csrf_ok(expected: object, given: str | None) -> bool:
    """The form's CSRF token against the session's, in constant time; missing on either side is a refusal."""
    if not isinstance(expected, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
