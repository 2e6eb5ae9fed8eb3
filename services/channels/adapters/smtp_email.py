"""Email through an SMTP relay with aiosmtplib: a small pool of connections, STARTTLS when the relay offers
it (or required), and the transaction driven step by step so that every failure is known to have happened
before the message was handed over (retry or fail) or during the hand-over (uncertain)."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import ssl
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal

import aiosmtplib
from pydantic import SecretStr

from schemas.vocab import FailureKind
from services.channels.errors import (
    AuthenticationError,
    PermanentSendError,
    SendError,
    TransientSendError,
    UncertainSendError,
)
from services.channels.ports import Email, EmailReceipt
from services.core.masking import mask_email

log = logging.getLogger(__name__)

StartTls = Literal["auto", "required", "off"]


class SmtpEmail:
    provider = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        pool_size: int,
        timeout: float,
        starttls: StartTls = "auto",
        username: str | None = None,
        password: SecretStr | None = None,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._starttls = starttls
        self._username = username
        self._password = password
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, message: Email) -> EmailReceipt:
        async with self._slots:
            connection = await self._connection()
            try:
                receipt = await self._transaction(connection, message)
            except UncertainSendError:
                await _close(connection)
                raise
            except SendError:
                await self._release(connection)
                raise
            await self._release(connection)
            return receipt

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await _close(connection)

    async def _connection(self) -> aiosmtplib.SMTP:
        while self._idle:
            connection = self._idle.pop()
            try:
                # A relay closes idle connections; find out now, before anything of the message is sent.
                await connection.noop()
                return connection
            except (aiosmtplib.SMTPException, OSError):
                await _close(connection)
        connection = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            start_tls={"auto": None, "required": True, "off": False}[self._starttls],
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        try:
            await connection.connect()
            if self._username and self._password is not None:
                await connection.login(self._username, self._password.get_secret_value())
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _close(connection)
            raise AuthenticationError(f"SMTP login refused: {exc.code}", code=str(exc.code)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await _close(connection)
            raise TransientSendError(f"could not open an SMTP session: {type(exc).__name__}") from exc
        return connection

    async def _release(self, connection: aiosmtplib.SMTP) -> None:
        if connection.is_connected:
            self._idle.append(connection)

    async def _transaction(self, connection: aiosmtplib.SMTP, message: Email) -> EmailReceipt:
        raw = _mime(message)
        recipients = [message.to, *message.bcc]
        utf8 = not all(address.isascii() for address in [message.from_, *recipients])
        try:
            await connection.mail(
                parseaddr(message.from_)[1], options=["SMTPUTF8"] if utf8 else [], encoding="utf-8"
            )
            refused: dict[str, str] = {}
            for address in recipients:
                try:
                    await connection.rcpt(address, encoding="utf-8")
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused[address] = str(exc.code)
            if message.to in refused:
                await connection.rset()
                raise refusal(refused[message.to], "relay refused the recipient")
        except aiosmtplib.SMTPResponseException as exc:
            # A reply before DATA: nothing was handed over.
            raise refusal(str(exc.code), "relay refused the message") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"SMTP session lost before DATA: {type(exc).__name__}") from exc
        try:
            await connection.data(raw)
        except aiosmtplib.SMTPDataError as exc:
            # The relay answered DATA with a refusal: definite.
            raise refusal(str(exc.code), "relay refused the message") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise UncertainSendError(f"SMTP session lost during DATA: {type(exc).__name__}") from exc
        for address, code in refused.items():
            log.warning("relay refused an additional recipient %s: %s", mask_email(address), code)
        return EmailReceipt(provider_ref=message.message_id, refused=refused)


def _mime(message: Email) -> bytes:
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = message.from_
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Message-ID"] = message.message_id
    for name, value in message.headers:
        mime[name] = value
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime.as_bytes()


async def _close(connection: aiosmtplib.SMTP) -> None:
    try:
        if connection.is_connected:
            await connection.quit()
    except (aiosmtplib.SMTPException, OSError):
        connection.close()


# Replies that say the mailbox does not exist or takes no mail (RFC 5321 4.2.3): never this address again.
_NO_MAILBOX = frozenset({"550", "551", "553"})


def refusal(code: str, what: str) -> TransientSendError | PermanentSendError:
    """An SMTP refusal in the worker's terms: 4xx may pass later, 5xx will not."""
    if code.startswith("4"):
        return TransientSendError(f"{what}: {code}", code=code)
    failure = FailureKind.UNREACHABLE_DESTINATION if code in _NO_MAILBOX else FailureKind.REJECTED
    return PermanentSendError(f"{what}: {code}", code=code, failure=failure)
