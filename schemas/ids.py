"""Every deterministic id of the platform, built in one place.

An id derived from what it identifies makes a replay, a redelivery or a provider's retry produce the same id,
which consumers apply once. Two services that must agree on an id (the worker's and the webhook's opt-out
after a provider refusal, say) call the same function here. Changing a scheme changes ids in flight: a
release that does must say so in docs/operations.md.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from enum import StrEnum

from schemas.vocab import OutcomeStatus

_NAMESPACE = uuid.UUID("6f1c3b52-2d7e-4f5e-9a53-4d8c0f8e2b11")


class Observer(StrEnum):
    """Who observed an outcome: the same fact seen by two observers is two facts with two ids."""

    WORKER = "worker"  # the channel worker, from the provider's answer to a create or a lookup
    CALLBACK = "callback"  # a provider's status callback
    BOUNCE = "bounce"  # a delivery status notification (DSN) a mail server sent back
    KEYPAD = "keypad"  # a key pressed on the voice menu
    GATEKEEPER = "gatekeeper"  # a request the gatekeeper ended (blocked, expired)


def deterministic_id(*parts: str) -> str:
    """A stable id from its parts, so that a replay yields the same id and downstream dedupes it.

    Exactly ``str(uuid.uuid5(_NAMESPACE, name))``, built from the SHA-1 digest directly: the ``UUID`` object
    cost more than the hash, several times per record (profiled in the gatekeeper)."""
    name = _NAMESPACE.bytes + "\x1f".join(parts).encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# ---- escalation ---------------------------------------------------------------------------------


def request_id(debtor_id: str, account_id: str, step_id: str, attempt: int) -> str:
    return deterministic_id("request", debtor_id, account_id, step_id, str(attempt))


def cancellation_id(cause_id: str, account_id: str) -> str:
    """``cause_id``: the ce_id of the event that made escalation withdraw the account's requests."""
    return deterministic_id("cancel", cause_id, account_id)


def escalation_id(debtor_id: str, account_id: str, due_date: date, kind: str, attempt: int = 1) -> str:
    """One hand-off of each kind per collection cycle (the due date that started it); a later ``attempt`` is
    the same hand-off asked again (after the forbearance offer the gatekeeper required)."""
    parts = (debtor_id, account_id, due_date.isoformat(), kind) + ((str(attempt),) if attempt > 1 else ())
    return deterministic_id("escalation", *parts)


def payment_token(debtor_id: str, account_id: str) -> str:
    """The reference in a payment link: stable, so every reminder of an account carries the same link."""
    return deterministic_id("pay", debtor_id, account_id)


# ---- gatekeeper -----------------------------------------------------------------------------------


def decision_id(request_id: str, attempt: int) -> str:
    """``attempt``: 1 for the first decision of a request, one more for each decision after a deferral."""
    return deterministic_id("decision", request_id, str(attempt))


def approval_id(request_id: str) -> str:
    return deterministic_id("approval", request_id)


# ---- outcomes, consent, replies ------------------------------------------------------------------


def outcome_id(request_id: str, status: OutcomeStatus, observer: Observer) -> str:
    """One id per (request, status, who observed it): the worker's ``sent`` and the webhook's ``delivered``
    are different facts; the same fact observed twice has the same id."""
    return deterministic_id("outcome", request_id, status.value, observer.value)


def final_status_id(request_id: str, status: OutcomeStatus) -> str:
    """The provider's final status of a request, whether its callback told the webhooks or the worker's sweep
    asked for it after the callback did not come: one fact, one id, applied once."""
    return outcome_id(request_id, status, Observer.CALLBACK)


def provider_opt_out_id(request_id: str) -> str:
    """The opt-out a provider reported for a request (Twilio 21610): the worker, refused at create, and the
    webhook, told by a callback, report the same fact with the same id."""
    return deterministic_id("consent", request_id, "21610")


def inbound_consent_id(debtor_id: str, message_ref: str | None, change: str, address: str, at: str) -> str:
    """A STOP or START the debtor sent, for one of the debtors sharing the number.

    The provider's message id names the message when it gives one; without it, the direction (``change``),
    the contact point and the provider's reference time ``at`` do, so that a retried webhook keeps its id
    and a STOP and a later START from the same number never share one."""
    if message_ref:
        return deterministic_id("consent", message_ref, debtor_id)
    return deterministic_id("consent", change, address, at, debtor_id)


def unsubscribe_id(request_id: str, address: str) -> str:
    """A one-click email unsubscribe from the message of ``request_id``."""
    return deterministic_id("unsubscribe", request_id, address)


def promise_id(request_id: str) -> str:
    """The promise taken on the voice menu of a request's call: pressing 1 twice promises once."""
    return deterministic_id("promise", request_id)


def reply_id(kind: str, cause: str) -> str:
    """A message the debtor asked for (``kind``: ``payment_link``, ``help``), keyed to what asked for it."""
    return deterministic_id("reply", kind, cause)


def message_id_local_part(request_id: str) -> str:
    """The local part of an email's Message-ID: the same request always has the same Message-ID."""
    return deterministic_id("message-id", request_id)


# ---- core banking adapters -----------------------------------------------------------------------


def bulk_item_id(idempotency_key: str, item_id: str) -> str:
    """An item of a core banking system's bulk message, which carries one idempotency key for all."""
    return deterministic_id("fineract", idempotency_key, item_id)


def derived_id(ce_id: str, event_type: str) -> str:
    """A second platform event translated from the same source record as ``ce_id``."""
    return deterministic_id(ce_id, event_type)


# ---- the log itself ------------------------------------------------------------------------------


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    return deterministic_id("deadletter", topic, str(partition), str(offset))


def published_line_id(event_type: str, data_json: str) -> str:
    """An event line published without an ``id``: a hash of its content, so republishing is harmless."""
    return deterministic_id("publish", event_type, data_json)


# ---- portal --------------------------------------------------------------------------------------


def portal_action_id(action: str, debtor_id: str, nonce: str) -> str:
    """An action taken in the portal: the form's nonce makes a double submit one event, two forms two."""
    return deterministic_id("portal", action, debtor_id, nonce)
