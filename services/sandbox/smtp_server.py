"""Local SMTP sandbox on aiosmtpd: offers STARTTLS, stores every message it accepts (and whether it came over
TLS), answers chosen 4xx/5xx codes for chosen recipients, and serves the stored mail and its faults over
``/_sandbox/mail`` on the sandbox HTTP app."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.smtp import SMTP
from pydantic import BaseModel, ConfigDict, ValidationError

from services.core.clock import Clock
from services.sandbox.settings import SandboxSettings, SmtpFault
from services.sandbox.smtp_bounces import Bouncer, dsn
from services.sandbox.smtp_tls import generated_context, server_context
from services.sandbox.twilio_api import RESET_HOOKS

log = logging.getLogger(__name__)

_DEFAULT_REPLIES = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox temporarily unavailable",
    451: "4.3.0 Requested action aborted: local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable: user unknown",
    551: "5.1.6 User not local",
    552: "5.2.2 Mailbox full",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Transaction failed: message rejected",
}


def mask_address(address: str) -> str:
    """A recipient as logs may show it: the domain and the first character of the mailbox."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


@dataclass(slots=True)
class _ArmedSmtpFault:
    fault: SmtpFault
    remaining: int | None

    def reply(self) -> str:
        text = self.fault.message or _DEFAULT_REPLIES.get(self.fault.code, "Sandbox fault")
        return f"{self.fault.code} {text}"


@dataclass(slots=True)
class StoredMail:
    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    message: EmailMessage = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "mail_from": self.mail_from,
            "rcpt_tos": self.rcpt_tos,
            "tls": self.tls,
            "size": len(self.raw),
            "headers": [[name, str(value)] for name, value in self.message.items()],
            "subject": self.message.get("Subject"),
            "message_id": self.message.get("Message-ID"),
            "text": _body(self.message, "plain"),
            "html": _body(self.message, "html"),
        }


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if isinstance(part, EmailMessage) else None


class MailFaultUpdate(BaseModel):
    """Body of ``POST /_sandbox/mail/faults``: per-recipient faults (null removes one)."""

    model_config = ConfigDict(extra="forbid")

    recipients: dict[str, SmtpFault | None] = {}
    clear: bool = False


class MailStore:
    """The mail the SMTP sandbox accepted, in arrival order, and the recipient faults it answers with."""

    def __init__(self, clock: Clock, faults: dict[str, SmtpFault]) -> None:
        self._clock = clock
        self._configured = faults
        self.mail: list[StoredMail] = []
        self.faults: dict[str, _ArmedSmtpFault] = {}
        self._count = 0
        self.reset()

    def reset(self) -> None:
        self.mail.clear()
        self.faults = {
            address.lower(): _ArmedSmtpFault(fault, fault.times)
            for address, fault in self._configured.items()
        }

    def update_faults(self, update: MailFaultUpdate) -> None:
        if update.clear:
            self.faults.clear()
        for address, fault in update.recipients.items():
            if fault is None:
                self.faults.pop(address.lower(), None)
            else:
                self.faults[address.lower()] = _ArmedSmtpFault(fault, fault.times)

    def faults_json(self) -> dict[str, Any]:
        return {
            "recipients": {
                address: {**armed.fault.model_dump(), "times_left": armed.remaining}
                for address, armed in self.faults.items()
            }
        }

    def fault_reply(self, address: str, stage: str) -> str | None:
        """The reply to give instead of accepting, consuming one use of a counted fault."""
        armed = self.faults.get(address.lower())
        if armed is None or armed.fault.stage != stage or armed.remaining == 0:
            return None
        if armed.remaining is not None:
            armed.remaining -= 1
        return armed.reply()

    def store(self, mail_from: str, rcpt_tos: list[str], raw: bytes, tls: bool) -> StoredMail:
        self._count += 1
        parsed = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
        stored = StoredMail(f"mail-{self._count}", self._clock.now(), mail_from, rcpt_tos, raw, tls, parsed)
        self.mail.append(stored)
        return stored


class SandboxSmtpHandler:
    """aiosmtpd handler: refuses recipients or DATA as the faults say, stores everything else."""

    def __init__(self, store: MailStore, bouncer: Bouncer | None = None) -> None:
        self._store = store
        self._bouncer = bouncer

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._store.fault_reply(address, "rcpt")
        if reply is not None:
            log.info("RCPT refused rcpt=%s reply=%s", mask_address(address), reply[:3])
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            reply = self._store.fault_reply(address, "data")
            if reply is not None:
                log.info("DATA refused rcpt=%s reply=%s", mask_address(address), reply[:3])
                return reply
        raw = envelope.original_content or b""
        stored = self._store.store(envelope.mail_from, list(envelope.rcpt_tos), raw, session.ssl is not None)
        log.info("mail stored id=%s recipients=%d size=%d", stored.id, len(stored.rcpt_tos), len(raw))
        self._bounce(stored)
        return f"250 OK: queued as {stored.id}"

    def _bounce(self, stored: StoredMail) -> None:
        """Accepted, but to be bounced: the DSN goes to the envelope sender after the 250."""
        if self._bouncer is None:
            return
        for address in stored.rcpt_tos:
            reply = self._store.fault_reply(address, "bounce")
            if reply is not None:
                log.info("bouncing rcpt=%s reply=%s", mask_address(address), reply[:3])
                report = dsn(stored.raw, stored.mail_from, address, reply, stored.received_at)
                self._bouncer.bounce(stored.mail_from, report)


@dataclass
class SmtpSandbox:
    """The listening SMTP sandbox, and the CA file that verifies its generated certificate (None when the
    certificate is configured: its issuer is the operator's)."""

    server: asyncio.Server
    ca_file: Path | None
    temporary: tempfile.TemporaryDirectory[str] | None = None
    bouncer: Bouncer | None = None

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        self.server.close()
        if self.bouncer is not None:
            self.bouncer.close()
        if self.temporary is not None:
            self.temporary.cleanup()


async def start_smtp_server(settings: SandboxSettings, store: MailStore) -> SmtpSandbox:
    """Listen on the running loop, offering STARTTLS (not requiring it: a client may still send in clear,
    and the stored mail says which it did)."""
    # aiosmtpd logs every command line at INFO, full recipient addresses included.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    bouncer = Bouncer(settings.smtp_bounce_host, settings.smtp_bounce_port)
    handler = SandboxSmtpHandler(store, bouncer)
    temporary: tempfile.TemporaryDirectory[str] | None = None
    ca_file: Path | None = None
    if settings.smtp_tls_cert is not None and settings.smtp_tls_key is not None:
        tls_context = server_context(settings.smtp_tls_cert, settings.smtp_tls_key)
    else:
        ca_file = settings.smtp_ca_file
        if ca_file is None:
            temporary = tempfile.TemporaryDirectory(prefix="smtp-sandbox-ca-")
            ca_file = Path(temporary.name) / "ca.pem"
        tls_context = generated_context(settings.smtp_tls_names, ca_file)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="sandbox.smtp.localhost",
            ident="collections-outreach SMTP sandbox",
            enable_SMTPUTF8=True,
            tls_context=tls_context,
        ),
        settings.host,
        settings.smtp_port,
    )
    return SmtpSandbox(server, ca_file, temporary, bouncer)


MAIL_STORE = web.AppKey("mail_store", MailStore)


def add_mail_routes(app: web.Application, store: MailStore) -> None:
    """Serve the mail store on the sandbox app; ``/_sandbox/reset`` clears it too."""
    app[MAIL_STORE] = store
    app[RESET_HOOKS].append(store.reset)
    app.add_routes(
        [
            web.get("/_sandbox/mail", _list_mail),
            web.get("/_sandbox/mail/faults", _get_mail_faults),
            web.post("/_sandbox/mail/faults", _set_mail_faults),
            web.get("/_sandbox/mail/{id}/raw", _raw_mail),
        ]
    )


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


async def _list_mail(request: web.Request) -> web.Response:
    wanted = request.query.get("to")
    after = int(request.query.get("after", "0") or 0)  # skip the first N received (incremental reads)
    mail = [
        stored.as_json()
        for stored in request.app[MAIL_STORE].mail[after:]
        if wanted is None or wanted.lower() in (rcpt.lower() for rcpt in stored.rcpt_tos)
    ]
    return _json({"mail": mail})


async def _raw_mail(request: web.Request) -> web.Response:
    for stored in request.app[MAIL_STORE].mail:
        if stored.id == request.match_info["id"]:
            return web.Response(body=stored.raw, content_type="message/rfc822")
    return _json({"error": "no such mail"}, status=404)


async def _get_mail_faults(request: web.Request) -> web.Response:
    return _json(request.app[MAIL_STORE].faults_json())


async def _set_mail_faults(request: web.Request) -> web.Response:
    store = request.app[MAIL_STORE]
    try:
        update = MailFaultUpdate.model_validate_json(await request.read())
    except ValidationError as exc:
        return _json({"error": exc.errors(include_url=False, include_context=False)}, status=400)
    store.update_faults(update)
    return _json(store.faults_json())
