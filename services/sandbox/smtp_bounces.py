"""Bounces from the SMTP sandbox: a recipient with a ``bounce`` fault is accepted (250), then, as a remote
mail server would, the sandbox sends a delivery status notification (RFC 3464) to the envelope sender,
through the bounce domain's mail server (``SANDBOX_SMTP_BOUNCE_HOST`` / ``_PORT``). A 5xx fault makes a
``failed`` DSN, a 4xx one a ``delayed`` DSN."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import datetime
from email.utils import format_datetime, make_msgid

import aiosmtplib

log = logging.getLogger(__name__)

REPORTING_MTA = "sandbox.smtp.localhost"
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def status_of(reply: str) -> str:
    """The enhanced status code of an SMTP reply (``550 5.1.1 ...``), or its class alone (``5.0.0``)."""
    code, _, text = reply.partition(" ")
    first = text.split(" ", 1)[0]
    return first if _STATUS.match(first) else f"{code[:1]}.0.0"


def dsn(original: bytes, return_path: str, recipient: str, reply: str, now: datetime) -> bytes:
    """A ``multipart/report`` DSN about ``recipient``, with the original message's headers (RFC 3464 and
    RFC 6522), written out as a mail server writes one."""
    status = status_of(reply)
    action = "failed" if status.startswith("5") else "delayed"
    subject = "Undelivered Mail Returned to Sender" if action == "failed" else "Delivery delayed"
    boundary = f"dsn-{uuid.uuid4().hex}"
    headers = original.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{REPORTING_MTA}>",
        f"To: {return_path}",
        f"Subject: {subject}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {make_msgid(domain=REPORTING_MTA)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"Your message could not be delivered to one or more recipients ({status}).",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {REPORTING_MTA}",
        f"Arrival-Date: {format_datetime(now)}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        f"Action: {action}",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; {reply}",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
        headers,
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


class Bouncer:
    """Sends the DSNs in the background (a mail server bounces after accepting), keeping the tasks alive."""

    def __init__(self, host: str, port: int | None) -> None:
        self.host = host
        self.port = port
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def close(self) -> None:
        """Drop the DSNs not yet sent (the sandbox is stopping: a real server would keep them queued)."""
        for task in self._tasks:
            task.cancel()

    def bounce(self, return_path: str, message: bytes) -> None:
        if self.port is None or not return_path:
            log.info("bounce not sent: no bounce server configured or a null sender")
            return
        task = asyncio.create_task(self._send(return_path, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, return_path: str, message: bytes) -> None:
        try:
            # A DSN has the null reverse path (RFC 5321 4.5.5): no bounce of a bounce.
            async with aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=10) as client:
                await client.sendmail("", [return_path], message)
            log.info("bounce sent size=%d", len(message))
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("bounce not delivered: %s", type(exc).__name__)
