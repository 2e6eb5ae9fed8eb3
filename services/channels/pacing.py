"""How fast to send and how long to wait before a retry: a token bucket per sender and exponential backoff
with full jitter. Pure: time is passed in, randomness is injected."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``rate`` sends per second on average, bursts of up to ``burst``."""

    rate: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)

    def take(self, now: float) -> float:
        """Take one token; return how many seconds to wait before using it (0 when one was there)."""
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        # A negative balance is a reservation: the caller waits until it is paid back.
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class RateLimiter:
    """One bucket per sender (phone number or mail-from address)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def delay(self, sender: str, now: float) -> float:
        bucket = self._buckets.get(sender)
        if bucket is None:
            bucket = self._buckets[sender] = TokenBucket(self.rate, self.burst)
        return bucket.take(now)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, capped; a provider's ``Retry-After`` is a floor."""

    initial: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** max(0, attempt - 1))
        jittered = self.rng.uniform(0, ceiling)
        return max(jittered, min(retry_after, self.maximum)) if retry_after is not None else jittered
