"""What the Twilio sandbox stores about messages and calls, rendered in Twilio's JSON shapes, and the
list filters Twilio offers on them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from services.sandbox.settings import Behaviour

API_VERSION = "2010-04-01"
# Twilio reports these final call states through the "completed" status callback event.
FINAL_CALL_STATES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_CALL_EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


def mask_number(number: str | None) -> str:
    """Enough of a phone number to follow it in a log, never the whole of it."""
    return f"***{number[-4:]}" if number else "-"


def rfc2822(instant: datetime | None) -> str | None:
    return format_datetime(instant.astimezone(UTC)) if instant is not None else None


def _money(amount: Decimal) -> str:
    # Twilio reports charges as negative amounts with five decimals.
    return f"{-amount:.5f}"


def request_id_of(callback_url: str | None) -> str | None:
    """The request id a client put in the query string of its StatusCallback URL."""
    if not callback_url:
        return None
    values = parse_qs(urlsplit(callback_url).query).get("request_id")
    return values[0] if values else None


@dataclass(slots=True)
class CallbackRecord:
    """One webhook the sandbox sent, as the ledger shows it."""

    kind: str
    status: str | None
    url: str
    http_status: int | None
    error: str | None
    duplicate: bool = False
    attempts: int = 1  # how many times it was sent; http_status and error are those of the last attempt

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "url": self.url,
            "http_status": self.http_status,
            "error": self.error,
            "duplicate": self.duplicate,
            "attempts": self.attempts,
        }


@dataclass(eq=False, slots=True)
class MessageRecord:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    direction: str
    status: str
    num_segments: int
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    price: Decimal | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    fault: Behaviour = Behaviour.OK
    client_status: int | None = None
    callbacks: list[CallbackRecord] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def api_json(self, price_unit: str) -> dict[str, Any]:
        base = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": _money(self.price) if self.price is not None else None,
            "price_unit": price_unit,
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": self.to,
            "uri": self.uri,
        }

    def sandbox_json(self, price_unit: str) -> dict[str, Any]:
        return {
            **self.api_json(price_unit),
            "request_id": request_id_of(self.status_callback),
            "status_callback": self.status_callback,
            "fault": self.fault.value,
            "client_status": self.client_status,
            "callbacks": [callback.as_json() for callback in self.callbacks],
        }

    def sent_instant(self) -> datetime:
        # A message still queued has no date_sent yet; it matches DateSent filters by its creation
        # instant so that a reconciliation right after an uncertain create still finds it.
        return self.date_sent or self.date_created


@dataclass(eq=False, slots=True)
class CallRecord:
    sid: str
    account_sid: str
    to: str
    from_: str
    status: str
    date_created: datetime
    date_updated: datetime
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    machine_detection: str | None
    async_amd_callback: str | None
    async_amd_callback_method: str
    async_amd: bool
    fault: Behaviour
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    price: Decimal | None = None
    client_status: int | None = None
    sequence: int = 0
    callbacks: list[CallbackRecord] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    spoken: list[dict[str, str]] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    dialed: list[str] = field(default_factory=list)
    digit_waiter: asyncio.Future[str] | None = None
    action_result: asyncio.Future[dict[str, Any]] | None = None

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    def api_json(self, price_unit: str) -> dict[str, Any]:
        base = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": str(self.duration) if self.duration is not None else None,
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": _money(self.price) if self.price is not None else None,
            "price_unit": price_unit,
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                name: f"{base}/{path}.json"
                for name, path in (
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("payments", "Payments"),
                    ("events", "Events"),
                    ("siprec", "Siprec"),
                    ("streams", "Streams"),
                )
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri,
        }

    def sandbox_json(self, price_unit: str) -> dict[str, Any]:
        return {
            **self.api_json(price_unit),
            "request_id": request_id_of(self.status_callback),
            "status_callback": self.status_callback,
            "url": self.url,
            "fault": self.fault.value,
            "client_status": self.client_status,
            "awaiting_input": self.digit_waiter is not None and not self.digit_waiter.done(),
            "callbacks": [callback.as_json() for callback in self.callbacks],
            "documents": self.documents,
            "spoken": self.spoken,
            "digits": self.digits,
            "dialed": self.dialed,
        }

    def start_instant(self) -> datetime:
        return self.start_time or self.date_created

    def wants(self, status: str) -> bool:
        if self.status_callback is None:
            return False
        event = "completed" if status in FINAL_CALL_STATES else _CALL_EVENT_OF.get(status)
        return event in self.events


def matches(to: str, from_: str, status: str | None, query: Mapping[str, str]) -> bool:
    return (
        query.get("To", to) == to
        and query.get("From", from_) == from_
        and (status is None or query.get("Status", status) == status)
    )


def _parse_instant(value: str) -> tuple[datetime, bool]:
    """A filter value as an instant, and whether it named a whole day."""
    try:
        return datetime.combine(date.fromisoformat(value), time(), UTC), True
    except ValueError:
        pass
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)), False


def in_window(instant: datetime, query: Mapping[str, str], name: str) -> bool:
    """Twilio's date filters: ``Name`` on a day, ``Name<`` on or before, ``Name>`` on or after."""
    day = instant.astimezone(UTC).date()
    for suffix in ("", "<", ">"):
        raw = query.get(name + suffix)
        if raw is None:
            continue
        bound, whole_day = _parse_instant(raw)
        if suffix == "" and day != bound.date():
            return False
        if suffix == "<" and (day > bound.date() if whole_day else instant > bound):
            return False
        if suffix == ">" and (day < bound.date() if whole_day else instant < bound):
            return False
    return True
