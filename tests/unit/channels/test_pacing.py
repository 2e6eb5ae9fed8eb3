"""Pacing: the per-sender token bucket and the capped exponential backoff with full jitter."""

from __future__ import annotations

import random

import pytest

from services.channels.pacing import Backoff, RateLimiter, TokenBucket


def test_a_burst_goes_at_once_then_sends_are_spaced_by_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)  # reservations queue up behind each other


def test_tokens_come_back_over_time_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=2)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(0.5) == pytest.approx(0.0)  # half a second at 2/s paid one token back
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == pytest.approx(0.5)  # idle time never buys more than the burst


def test_each_sender_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.delay("+15550009000", 0.0) == 0.0
    assert limiter.delay("+15550009001", 0.0) == 0.0
    assert limiter.delay("+15550009000", 0.0) == pytest.approx(1.0)


def test_backoff_grows_exponentially_within_its_cap_and_honours_retry_after() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range
    assert backoff.delay(1, retry_after=3.0) >= 3.0
    assert backoff.delay(1, retry_after=60.0) == 4.0  # a provider cannot park the worker beyond the cap
