"""The email adapter never sends credentials or a message in clear unless told ``none_insecure_local_only``:
against a relay that offers AUTH but no STARTTLS it stops before AUTH and MAIL (seen on the wire, through a
recording relay in front of aiosmtpd), and so does the worker; against one whose certificate does not verify,
likewise. Over STARTTLS the credentials go only once the session is encrypted; implicit TLS works on its own
port; the sandbox records the mail as received over TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult
from pydantic import SecretStr

from schemas.vocab import Channel
from services.channels.adapters.smtp_email import SmtpEmail
from services.channels.app import ChannelApp
from services.channels.errors import InsecureTransportError
from services.channels.ports import Email
from services.core.clock import ManualClock
from services.core.settings import CommonSettings
from services.sandbox.smtp_tls import generated_context
from services.webhooks.app import WebhooksApp
from tests.channels_support import START, Providers, approval, channels_settings
from tests.support import publish

USER, PASSWORD = "collections", "s3cret-relay-password"
CREDENTIALS = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())


def letter(to: str = "debtor@example.com") -> Email:
    return Email(
        to=to,
        from_="collections@bank.example",
        subject="Payment reminder",
        text="Dear Alex, a payment is due.",
        html="<p>Dear Alex, a payment is due.</p>",
        message_id="<r-tls@bank.example>",
    )


def encrypted(server: SMTP, session: Any) -> bool:
    """Over STARTTLS (aiosmtpd's session knows) or TLS from the start (only the transport does)."""
    return session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None


@dataclass
class Relay:
    """An aiosmtpd relay that offers AUTH (in clear too, if told so) and keeps what it accepted."""

    port: int = 0
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, over TLS)
    received: list[bool] = field(default_factory=list)  # one per message: over TLS

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        self.received.append(encrypted(server, session))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> AuthResult:
        self.logins.append((auth.login.decode(), encrypted(server, session)))
        return AuthResult(success=auth.login.decode() == USER and auth.password.decode() == PASSWORD)


@contextlib.asynccontextmanager
async def relay(
    *, starttls: ssl.SSLContext | None = None, implicit: ssl.SSLContext | None = None
) -> AsyncIterator[Relay]:
    kept = Relay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            kept,
            hostname="relay.test",
            tls_context=starttls,
            authenticator=kept.authenticate,
            auth_require_tls=False,  # a badly configured relay: AUTH offered in clear
        ),
        "127.0.0.1",
        0,
        ssl=implicit,
    )
    kept.port = int(server.sockets[0].getsockname()[1])
    try:
        yield kept
    finally:
        server.close()


@dataclass
class Wire:
    """What each side sent through a TCP relay put between the adapter and the SMTP relay."""

    port: int = 0
    from_client: bytearray = field(default_factory=bytearray)
    from_server: bytearray = field(default_factory=bytearray)

    def in_clear(self) -> bytes:
        """What the client sent before a TLS handshake (a ClientHello starts with 0x16 0x03)."""
        sent = bytes(self.from_client)
        return sent.split(b"\x16\x03", 1)[0]


@contextlib.asynccontextmanager
async def tap(upstream: int) -> AsyncIterator[Wire]:
    wire = Wire()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, into: bytearray) -> None:
        try:
            while data := await source.read(65536):
                into.extend(data)
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(
            pipe(reader, up_writer, wire.from_client),
            pipe(up_reader, writer, wire.from_server),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    wire.port = int(server.sockets[0].getsockname()[1])
    try:
        yield wire
    finally:
        server.close()


@pytest.fixture
def relay_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A relay certificate for 127.0.0.1 and the CA that verifies it."""
    ca_file = tmp_path / "relay-ca.pem"
    return generated_context(["127.0.0.1"], ca_file), ca_file


async def test_a_relay_offering_auth_but_no_starttls_gets_neither_credentials_nor_mail() -> None:
    async with relay() as plain, tap(plain.port) as wire:
        sender = SmtpEmail(
            "127.0.0.1", wire.port, pool_size=1, timeout=5, username=USER, password=SecretStr(PASSWORD)
        )
        with pytest.raises(InsecureTransportError):
            await sender.send(letter())
        await sender.aclose()

    assert b"AUTH" in bytes(wire.from_server)  # the relay did offer to take the password in clear
    sent = bytes(wire.from_client).upper()
    assert sent.startswith(b"EHLO")
    for verb in (b"AUTH", b"MAIL FROM", b"RCPT TO", b"DATA"):
        assert verb not in sent
    assert PASSWORD.encode() not in bytes(wire.from_client) and CREDENTIALS not in bytes(wire.from_client)
    assert (plain.logins, plain.received) == ([], [])


async def test_the_worker_stops_instead_of_sending_in_clear(
    settings: CommonSettings,
    providers: Providers,
    webhooks: WebhooksApp,
    link_keys: list[str],
    clock: ManualClock,
) -> None:
    async with relay() as plain, tap(plain.port) as wire:
        config = channels_settings(
            providers,
            webhooks.hooks.base,
            link_keys,
            smtp_port=wire.port,
            smtp_username=USER,
            smtp_password=SecretStr(PASSWORD),
        )
        app = ChannelApp(Channel.EMAIL, settings, config, clock)
        task = asyncio.create_task(app.run())
        await publish(
            settings, [approval("d-clear", "r-clear", "alex@example.com", channel=Channel.EMAIL)], time=START
        )
        with pytest.raises(InsecureTransportError):
            await asyncio.wait_for(task, 30)

    sent = bytes(wire.from_client).upper()
    assert b"AUTH" not in sent and b"MAIL FROM" not in sent and b"DATA" not in sent
    assert plain.received == []


async def test_credentials_go_only_inside_starttls(relay_tls: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = relay_tls
    async with relay(starttls=context) as secure, tap(secure.port) as wire:
        sender = SmtpEmail(
            "127.0.0.1",
            wire.port,
            pool_size=1,
            timeout=5,
            username=USER,
            password=SecretStr(PASSWORD),
            ca_file=ca_file,
        )
        await sender.send(letter())
        await sender.aclose()

    clear = wire.in_clear().upper()
    assert b"STARTTLS" in clear and b"AUTH" not in clear and b"MAIL FROM" not in clear
    assert PASSWORD.encode() not in bytes(wire.from_client)
    assert (secure.logins, secure.received) == ([(USER, True)], [True])


async def test_implicit_tls_on_its_own_port(relay_tls: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = relay_tls
    async with relay(implicit=context) as secure:
        sender = SmtpEmail(
            "127.0.0.1",
            secure.port,
            pool_size=1,
            timeout=5,
            tls="implicit",
            username=USER,
            password=SecretStr(PASSWORD),
            ca_file=ca_file,
        )
        await sender.send(letter())
        await sender.aclose()

    assert (secure.logins, secure.received) == ([(USER, True)], [True])


async def test_a_certificate_that_does_not_verify_is_refused(providers: Providers) -> None:
    # The system's CAs do not know the sandbox's.
    sender = SmtpEmail("127.0.0.1", providers.smtp_port, pool_size=1, timeout=5)
    with pytest.raises(InsecureTransportError):
        await sender.send(letter())
    await sender.aclose()
    assert await providers.mail() == []


async def test_the_sandbox_records_mail_received_over_starttls(providers: Providers) -> None:
    sender = SmtpEmail(
        "127.0.0.1", providers.smtp_port, pool_size=1, timeout=5, ca_file=providers.smtp_ca_file
    )
    await sender.send(letter())
    await sender.aclose()

    [mail] = await providers.mail()
    assert mail["tls"] is True


async def test_in_clear_only_when_told_so_and_never_with_credentials(providers: Providers) -> None:
    sender = SmtpEmail(
        "127.0.0.1", providers.smtp_port, pool_size=1, timeout=5, tls="none_insecure_local_only"
    )
    await sender.send(letter())
    await sender.aclose()
    [mail] = await providers.mail()
    assert mail["tls"] is False

    with pytest.raises(ValueError, match="never sent without TLS"):
        SmtpEmail(
            "127.0.0.1",
            providers.smtp_port,
            pool_size=1,
            timeout=5,
            tls="none_insecure_local_only",
            username=USER,
            password=SecretStr(PASSWORD),
        )
