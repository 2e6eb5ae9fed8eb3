"""Delivery status notifications (RFC 3464) read with Python's ``email`` package, as pure functions: what a
bounce says about each recipient, and what that means for the request (RFC 3463 status codes).

A DSN is a ``multipart/report; report-type=delivery-status`` whose ``message/delivery-status`` part holds one
block of per-message fields, then one block per recipient (``Final-Recipient``, ``Action``, ``Status``). The
recipient's address is only handed to the caller's matcher (which request's recipient is it?), never kept in
a verdict; the diagnostic text, which quotes it, is never read.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from enum import StrEnum

from schemas.vocab import FailureKind

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class Verdict(StrEnum):
    """What a bounce means for the request: ``hard`` (5.x.x: it will never be delivered), ``soft`` (4.x.x:
    the relay keeps trying), ``no_failure`` (delivered, relayed or expanded), ``not_dsn`` (any other mail),
    ``other_recipient`` (a report about none of the request's recipients)."""

    HARD = "hard"
    SOFT = "soft"
    NO_FAILURE = "no_failure"
    NOT_DSN = "not_dsn"
    OTHER_RECIPIENT = "other_recipient"  # about another recipient of the message (an archive copy)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    action: str  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str  # "5.1.1"
    recipient: str = field(default="", repr=False)  # Final-Recipient's address, lower case: for matching only


@dataclass(frozen=True, slots=True)
class Bounce:
    verdict: Verdict
    status: str = ""  # the deciding recipient's status code, when there is one
    failure: FailureKind | None = None  # for a hard bounce: what it says about the address


def parse(raw: bytes) -> list[RecipientStatus] | None:
    """The per-recipient statuses of a DSN, or None if ``raw`` is not one."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            return _recipients(part)
    return None


def _recipients(part: Message) -> list[RecipientStatus] | None:
    blocks = part.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        return None  # per-message fields and at least one recipient (RFC 3464 2.1)
    found = []
    for block in blocks[1:]:
        if not isinstance(block, Message):
            continue
        match = _STATUS.match(str(block.get("Status", "")))
        if match is None:
            continue
        # "rfc822; alex@example.net": the address type, then the address.
        recipient = str(block.get("Final-Recipient", "")).partition(";")[2].strip().strip("<>").lower()
        action = str(block.get("Action", "")).strip().lower()
        found.append(RecipientStatus(action, ".".join(match.groups()), recipient))
    return found or None


def judge(raw: bytes, ours: Callable[[str], bool] | None = None) -> Bounce:
    """A message to a bounce address, judged on the recipients ``ours`` accepts (all without it): any 5.x.x
    makes it hard, else any 4.x.x soft."""
    recipients = parse(raw)
    if recipients is None:
        return Bounce(Verdict.NOT_DSN)
    if ours is not None:
        recipients = [r for r in recipients if ours(r.recipient)]
        if not recipients:
            return Bounce(Verdict.OTHER_RECIPIENT)
    hard = [r for r in recipients if r.status.startswith("5")]
    if hard:
        return Bounce(Verdict.HARD, hard[0].status, address_failure(hard[0].status))
    soft = [r for r in recipients if r.status.startswith("4") or r.action == "delayed"]
    if soft:
        return Bounce(Verdict.SOFT, soft[0].status)
    return Bounce(Verdict.NO_FAILURE, recipients[0].status)


# Permanent failures that say the address itself is no good (RFC 3463): a bad mailbox or domain (X.1.x),
# a disabled mailbox (X.2.1), no route to its domain (X.4.4). Other 5.x.x refuse this message (content,
# policy, size) on an address that may well work: undelivered, but not a dead end.
_DEAD_ADDRESS = re.compile(r"^5\.(1\.\d+|2\.1|4\.4)$")


def address_failure(status: str) -> FailureKind:
    return FailureKind.UNREACHABLE_DESTINATION if _DEAD_ADDRESS.match(status) else FailureKind.REJECTED
