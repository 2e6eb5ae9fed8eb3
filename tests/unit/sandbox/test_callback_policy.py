"""The Twilio sandbox's pure choices: which failed callbacks are sent again and when, and sids that depend on
the seed and the requests, not on the order the requests came in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from services.core.clock import ManualClock
from services.sandbox.settings import SandboxSettings
from services.sandbox.twilio_engine import TwilioSandbox, _Delivery, _identity, retry_delays


def settings(**overrides: object) -> SandboxSettings:
    fields: dict[str, object] = {
        "auth_tokens": [SecretStr("t" * 32)],
        "admin_token": SecretStr("a" * 32),
        **overrides,
    }
    return SandboxSettings(**fields)  # type: ignore[arg-type]


def test_retries_double_from_the_first_delay_up_to_the_cap() -> None:
    assert retry_delays(settings(callback_retries=6, callback_retry_ms=100, callback_retry_max_ms=1000)) == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert retry_delays(settings(callback_retries=0)) == []
    assert sum(retry_delays(settings())) == pytest.approx(26.3)  # the defaults, as docs/sandboxes.md says


@pytest.mark.parametrize(
    ("status", "error", "retried"),
    [
        (None, "ClientConnectorError", True),  # refused: the webhook service is down
        (None, "TimeoutError", True),
        (500, None, True),
        (503, None, True),
        (429, None, True),
        (200, None, False),
        (307, "redirect not followed", False),
        (403, None, False),
        (404, None, False),
        (None, "callback host not allowed", False),
    ],
)
def test_what_is_sent_again(status: int | None, error: str | None, retried: bool) -> None:
    assert _Delivery(status, error, "").retriable is retried


def test_sids_follow_the_seed_and_the_request_not_the_order() -> None:
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
    first, second = TwilioSandbox(settings(seed=3), clock), TwilioSandbox(settings(seed=3), clock)
    a = [first.new_sid("SM", "+15550001", "hello"), first.new_sid("SM", "+15550002", "hello")]
    b = [second.new_sid("SM", "+15550002", "hello"), second.new_sid("SM", "+15550001", "hello")]
    assert a == b[::-1]
    assert first.new_sid("SM", "+15550001", "hello") not in a  # a resend is a message of its own
    assert TwilioSandbox(settings(seed=4), clock).new_sid("SM", "+15550001", "hello") != a[0]
    assert all(len(sid) == 34 and sid.startswith("SM") for sid in a)


def test_a_request_is_known_by_its_request_id_not_by_tokens_signed_with_the_run_keys() -> None:
    one = _identity("http://127.0.0.1:1/s?request_id=r1&ctx=signed-by-run-1", "Pay at https://x/p?t=run-1")
    other = _identity("http://127.0.0.1:2/s?request_id=r1&ctx=signed-by-run-2", "Pay at https://x/p?t=run-2")
    assert one == other == ("request", "r1")
    assert _identity(None, "hello") == ("hello", "")
