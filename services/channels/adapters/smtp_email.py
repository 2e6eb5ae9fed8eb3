"""Email through an SMTP relay with aiosmtplib: a small pool of connections over TLS (STARTTLS or implicit),
and the transaction driven step by step so that every failure is known to have happened before the message
was handed over (retry or fail) or during the hand-over (uncertain).

TLS is required unless the deployment says ``none_insecure_local_only``: a relay that offers no STARTTLS, or
whose certificate does not verify, gets neither the credentials nor a message, and the worker stops
(``InsecureTransportError``) instead of retrying what would go in clear.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from pydantic import SecretStr

from schemas.vocab import FailureKind
from services.channels.errors import (
    AuthenticationError,
    InsecureTransportError,
    PermanentSendError,
    SendError,
    TransientSendError,
    UncertainSendError,
)
from services.channels.ports import Email, EmailReceipt
from services.core.masking import mask_email

log = logging.getLogger(__name__)

# How the session is protected: STARTTLS on a plain port, TLS from the first byte (implicit, port 465), or
# nothing at all, for a relay on this machine or a private test network (the sandbox).
SmtpTls = Literal["starttls", "implicit", "none_insecure_local_only"]
INSECURE: SmtpTls = "none_insecure_local_only"


class SmtpEmail:
    provider = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        pool_size: int,
        timeout: float,
        tls: SmtpTls = "starttls",
        username: str | None = None,
        password: SecretStr | None = None,
        ca_file: Path | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if tls == INSECURE and password is not None:
            raise ValueError("SMTP credentials are never sent without TLS")
        self._host = host
        self._port = port
        self._timeout = timeout
        self._tls = tls
        self._username = username
        self._password = password
        self._ca_file = ca_file
        self._tls_context: ssl.SSLContext | None = None
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
            use_tls=self._tls == "implicit",
            start_tls=False,  # driven below, so that no relay can talk the session out of it
            tls_context=self._context() if self._tls != INSECURE else None,
            local_hostname=self._local_hostname,
        )
        try:
            await connection.connect()
            if self._tls == "starttls":
                await self._start_tls(connection)
            if self._username and self._password is not None:
                await connection.login(self._username, self._password.get_secret_value())
        except InsecureTransportError:
            await _close(connection)
            raise
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _close(connection)
            raise AuthenticationError(f"SMTP login refused: {exc.code}", code=str(exc.code)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await _close(connection)
            if _unverified(exc):
                raise self._insecure("its certificate does not verify") from exc
            raise TransientSendError(f"could not open an SMTP session: {type(exc).__name__}") from exc
        return connection

    def _context(self) -> ssl.SSLContext:
        """Built at the first session rather than at start: a sandbox started alongside the worker writes its
        CA file only once it listens."""
        if self._tls_context is None:
            try:
                self._tls_context = ssl.create_default_context(cafile=self._ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise self._insecure(f"its CA file cannot be read ({type(exc).__name__})") from exc
        return self._tls_context

    async def _start_tls(self, connection: aiosmtplib.SMTP) -> None:
        await connection.ehlo()
        if not connection.supports_extension("starttls"):
            # Before AUTH and MAIL: the credentials and the message would cross in clear.
            raise self._insecure("it does not offer STARTTLS")
        await connection.starttls()
        if connection.get_transport_info("sslcontext") is None:
            raise self._insecure("the session is not encrypted after STARTTLS")

    def _insecure(self, why: str) -> InsecureTransportError:
        log.error(
            "refusing the SMTP relay %s:%d: %s; nothing is sent in clear (set CHANNELS_SMTP_TLS, "
            "CHANNELS_SMTP_PORT or CHANNELS_SMTP_CA_FILE to match the relay)",
            self._host,
            self._port,
            why,
        )
        return InsecureTransportError(f"SMTP relay refused: {why}")

    async def _release(self, connection: aiosmtplib.SMTP) -> None:
        if connection.is_connected:
            self._idle.append(connection)

    async def _transaction(self, connection: aiosmtplib.SMTP, message: Email) -> EmailReceipt:
        raw = to_wire(message)
        recipients = [message.to, *message.bcc]
        utf8 = not all(address.isascii() for address in [message.from_, *recipients])
        try:
            sender = message.return_path or parseaddr(message.from_)[1]
            await connection.mail(sender, options=["SMTPUTF8"] if utf8 else [], encoding="utf-8")
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


def to_wire(message: Email) -> bytes:
    """The message as the relay receives it: multipart text and HTML, CRLF line ends."""
    mime = EmailMessage(policy=WIRE)
    try:
        mime["From"] = message.from_
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Message-ID"] = message.message_id
        for name, value in message.headers:
            mime[name] = value
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        return mime.as_bytes()
    except ValueError as exc:
        raise PermanentSendError(f"message cannot be written: {exc}", failure=FailureKind.REJECTED) from exc


# RFC 2369's list headers hold URIs in angle brackets, and RFC 2047 forbids an encoded-word there. The
# standard policy turns any word longer than a line into encoded-words, so a one-click unsubscribe URI of a
# few hundred characters would reach mail clients as "=?utf-8?q?=3Chttps=3A..." and no client would find it.
URI_LIST_HEADERS = frozenset(
    {
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-help",
        "list-subscribe",
        "list-post",
        "list-owner",
        "list-archive",
    }
)
MAX_LINE = 998  # RFC 5322 2.1.1, without the CRLF


class WirePolicy(EmailPolicy):
    """``email.policy.SMTP``, except that the URI-list headers are written as given, folded only at
    whitespace and never encoded; a line that would still exceed 998 characters is refused."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if name.lower() not in URI_LIST_HEADERS:
            return super().header_store_parse(name, value)
        text = str(value)
        if not text.isascii() or "\r" in text or "\n" in text:
            raise ValueError(f"{name} must be ASCII on one line (percent-encode the URI)")
        return (name, text)

    def fold(self, name: str, value: str) -> str:
        if name.lower() not in URI_LIST_HEADERS:
            return str(super().fold(name, value))
        return fold_at_whitespace(name, str(value), self.max_line_length or MAX_LINE, self.linesep)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() not in URI_LIST_HEADERS:
            return super().fold_binary(name, value)
        return self.fold(name, value).encode("ascii")


WIRE = WirePolicy(linesep="\r\n")


def fold_at_whitespace(name: str, value: str, width: int, linesep: str) -> str:
    """``name: value`` folded between words only, each line ``width`` long where the words allow it; the
    first word stays beside the name however long it is."""
    words = value.split()
    lines = [f"{name}: {words[0]}" if words else f"{name}:"]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) > width:
            lines.append("")
        lines[-1] += " " + word
    if (longest := max(len(line) for line in lines)) > MAX_LINE:
        raise ValueError(f"{name} has a word that makes a line of {longest} characters (at most {MAX_LINE})")
    return linesep.join(lines) + linesep


def _unverified(exc: BaseException) -> bool:
    """Whether the relay's certificate failed verification (aiosmtplib wraps it when TLS is implicit)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__
    return False


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
