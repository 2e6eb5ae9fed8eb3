"""The engine's input models: aware datetimes only, defaults, tolerant of unknown keys and flags."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.vocab import Channel, DebtorFlag, RequestKind
from services.core.settings import format_errors
from services.gatekeeper.model import DecideInput, LocalWindow

MINIMAL: dict[str, Any] = {
    "now": "2026-06-10T11:30:00Z",
    "debtor": {"debtor_id": "d1"},
    "request": {"request_id": "r1", "account_id": "a1", "channel": "sms"},
}


def _with(path: str, value: object) -> dict[str, Any]:
    data = {key: dict(val) if isinstance(val, dict) else val for key, val in MINIMAL.items()}
    *parents, leaf = path.split(".")
    target = data
    for parent in parents:
        target = target[parent]
    target[leaf] = value
    return data


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        DecideInput.model_validate(data)
    return format_errors(caught.value)


def test_defaults() -> None:
    inp = DecideInput.model_validate(MINIMAL)
    debtor, request = inp.debtor, inp.request
    assert (debtor.jurisdictions, debtor.phones, debtor.consents, debtor.opt_outs) == ([], [], [], [])
    assert (debtor.flags, debtor.inconvenient, debtor.timezone, inp.history) == ([], [], None, [])
    assert (request.kind, request.not_before, request.expires_at) == (RequestKind.OUTREACH, None, None)


def test_unknown_keys_are_ignored() -> None:
    data = _with("debtor.shoe_size", 42) | {"id": "s1", "extra": True}
    assert DecideInput.model_validate(data).debtor.debtor_id == "d1"


def test_unknown_flags_are_kept_but_not_hard_stops() -> None:
    inp = DecideInput.model_validate(_with("debtor.flags", ["vip", "attorney"]))
    assert inp.debtor.hard_stop_flags == [DebtorFlag.ATTORNEY]


@pytest.mark.parametrize(
    ("path", "value", "location"),
    [
        ("now", "2026-06-10T11:30:00", "now"),
        ("request.not_before", "2026-06-10T11:30:00", "request.not_before"),
        ("request.expires_at", "2026-06-10T11:30:00", "request.expires_at"),
        (
            "history",
            [{"channel": "sms", "account_id": "a1", "at": "2026-06-10T10:00:00", "outcome": "sent"}],
            "history[0].at",
        ),
    ],
)
def test_naive_datetimes_are_rejected(path: str, value: object, location: str) -> None:
    assert _error(_with(path, value)) == f"{location}: Input should have timezone info"


def test_unknown_channel_and_outcome_are_rejected() -> None:
    assert _error(_with("request.channel", "fax")).startswith("request.channel: Input should be 'sms'")
    bad = [{"channel": "sms", "account_id": "a1", "at": "2026-06-10T10:00:00Z", "outcome": "teleported"}]
    assert _error(_with("history", bad)).startswith("history[0].outcome: Input should be")


def test_unknown_time_zone_is_rejected() -> None:
    assert "unknown time zone 'Mars/Olympus'" in _error(_with("debtor.timezone", "Mars/Olympus"))


def test_local_windows() -> None:
    assert LocalWindow.model_validate({"start": "12:00", "end": "13:00"}).end == time(13)
    for bad in (
        {"start": "12:00", "end": "12:00"},
        {"start": "12:00+02:00", "end": "13:00"},
        {"start": "12:00:00.5", "end": "13:00"},
    ):
        with pytest.raises(ValidationError):
            LocalWindow.model_validate(bad)


def test_views_are_frozen() -> None:
    inp = DecideInput.model_validate(MINIMAL)
    with pytest.raises(ValidationError):
        inp.request.channel = Channel.VOICE  # type: ignore[misc]
