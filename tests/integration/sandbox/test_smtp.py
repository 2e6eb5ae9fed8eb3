"""The SMTP sandbox: mail stored with its headers and read back over HTTP, recipient faults at RCPT and
DATA (451 that clears, 550 that stays), partial refusals, bounces (accepted, then a DSN to the envelope
sender), and STARTTLS: always offered, with a certificate generated at start (verified against the CA file it
writes) or a configured one; a client that sends in clear is still served, and the stored mail says so."""

from __future__ import annotations

import asyncio
import email
import ssl
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from devtools.certificates import generate
from tests.integration.sandbox.conftest import MakeSandbox, Sandbox, eventually

SENDER = "collections@bank.example"


def letter(*recipients: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(recipients)
    message["Subject"] = "您的还款提醒 / Payment reminder"
    message["Message-ID"] = "<req-42@outreach.bank.example>"
    message["List-Unsubscribe"] = "<https://bank.example/unsubscribe?token=abc>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("Plain text body")
    message.add_alternative("<p>HTML body</p>", subtype="html")
    return message


async def send(sandbox: Sandbox, *recipients: str) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """Over STARTTLS, the sandbox's certificate verified against its CA file, hostname included."""
    assert sandbox.smtp_ca_file is not None
    return await aiosmtplib.send(
        letter(*recipients),
        hostname="127.0.0.1",
        port=sandbox.smtp_port,
        start_tls=True,
        tls_context=ssl.create_default_context(cafile=sandbox.smtp_ca_file),
        timeout=5,
    )


async def set_faults(sandbox: Sandbox, recipients: dict[str, object]) -> None:
    response = await sandbox.control.post("/_sandbox/mail/faults", json={"recipients": recipients})
    assert response.status_code == 200


async def test_mail_is_stored_with_headers(sandbox: Sandbox) -> None:
    await send(sandbox, "debtor@example.com")

    [mail] = await sandbox.mail()
    assert mail["mail_from"] == SENDER
    assert mail["rcpt_tos"] == ["debtor@example.com"]
    assert mail["subject"] == "您的还款提醒 / Payment reminder"
    assert mail["message_id"] == "<req-42@outreach.bank.example>"
    headers = dict(mail["headers"])
    assert headers["List-Unsubscribe"] == "<https://bank.example/unsubscribe?token=abc>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["text"].strip() == "Plain text body"
    assert mail["html"].strip() == "<p>HTML body</p>"
    assert mail["tls"] is True
    raw = await sandbox.control.get(f"/_sandbox/mail/{mail['id']}/raw")
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw.content
    filtered = await sandbox.control.get("/_sandbox/mail", params={"to": "someone@else.example"})
    assert filtered.json() == {"mail": []}


async def test_451_then_accept(sandbox: Sandbox) -> None:
    await set_faults(sandbox, {"retry@example.com": {"code": 451, "times": 1}})

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(sandbox, "retry@example.com")
    await send(sandbox, "retry@example.com")

    assert refused.value.recipients[0].code == 451
    assert [mail["rcpt_tos"] for mail in await sandbox.mail()] == [["retry@example.com"]]


async def test_550_is_permanent(sandbox: Sandbox) -> None:
    await set_faults(sandbox, {"gone@example.com": {"code": 550}})

    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(sandbox, "gone@example.com")
        assert refused.value.recipients[0].code == 550
    assert await sandbox.mail() == []


async def test_partial_refusal_delivers_to_the_others(sandbox: Sandbox) -> None:
    await set_faults(sandbox, {"Gone@Example.com": {"code": 550}})

    errors, _ = await send(sandbox, "debtor@example.com", "gone@example.com")

    assert errors["gone@example.com"].code == 550
    [mail] = await sandbox.mail()
    assert mail["rcpt_tos"] == ["debtor@example.com"]


async def test_data_stage_fault(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(smtp_faults={"filtered@example.com": {"code": 554, "stage": "data"}})

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(sandbox, "filtered@example.com")

    assert refused.value.code == 554
    assert await sandbox.mail() == []


async def test_bad_fault_is_refused(sandbox: Sandbox) -> None:
    response = await sandbox.control.post(
        "/_sandbox/mail/faults", json={"recipients": {"a@b.c": {"code": 250}}}
    )

    assert response.status_code == 400


async def test_a_client_in_clear_is_served_and_the_mail_says_so(sandbox: Sandbox) -> None:
    await aiosmtplib.send(
        letter("debtor@example.com"), hostname="127.0.0.1", port=sandbox.smtp_port, start_tls=False, timeout=5
    )

    [mail] = await sandbox.mail()
    assert mail["tls"] is False


async def test_the_generated_certificate_is_for_the_configured_names_only(make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(smtp_tls_names=["relay.test"])
    assert sandbox.smtp_ca_file is not None
    context = ssl.create_default_context(cafile=sandbox.smtp_ca_file)

    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        await aiosmtplib.send(
            letter("debtor@example.com"),
            hostname="127.0.0.1",
            port=sandbox.smtp_port,
            start_tls=True,
            tls_context=context,
            timeout=5,
        )

    assert await sandbox.mail() == []


async def test_the_ca_file_goes_where_it_is_asked_to(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    wanted = tmp_path / "tls" / "smtp-ca.pem"
    sandbox = await make_sandbox(smtp_ca_file=wanted)

    assert sandbox.smtp_ca_file == wanted
    assert wanted.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    await send(sandbox, "debtor@example.com")
    [mail] = await sandbox.mail()
    assert mail["tls"] is True


async def test_starttls_with_a_configured_certificate(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    ca, cert, key = generate(["localhost", "127.0.0.1"], "test CA", timedelta(days=1))
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    sandbox = await make_sandbox(smtp_tls_cert=tmp_path / "cert.pem", smtp_tls_key=tmp_path / "key.pem")

    assert sandbox.smtp_ca_file is None  # the operator knows the issuer of their certificate
    await aiosmtplib.send(
        letter("debtor@example.com"),
        hostname="127.0.0.1",
        port=sandbox.smtp_port,
        start_tls=True,
        tls_context=ssl.create_default_context(cafile=tmp_path / "ca.pem"),
        timeout=5,
    )

    [mail] = await sandbox.mail()
    assert mail["tls"] is True


class Collector:
    """A bounce domain's mail server: keeps what it receives, envelope included."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


async def test_a_bounce_fault_accepts_the_mail_then_returns_a_dsn_to_the_envelope_sender(
    make_sandbox: MakeSandbox,
) -> None:
    collector = Collector()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(collector), "127.0.0.1", 0)
    try:
        port = int(server.sockets[0].getsockname()[1])
        sandbox = await make_sandbox(
            smtp_bounce_port=port, smtp_faults={"gone@example.com": {"code": 550, "stage": "bounce"}}
        )
        refused, _ = await send(sandbox, "gone@example.com")
        assert refused == {}  # accepted: the bounce comes afterwards, as from a remote server
        [(mail_from, rcpt_tos, raw)] = await eventually(lambda: collector.received)
    finally:
        server.close()
    assert mail_from == "<>" or mail_from == ""  # the null reverse path: no bounce of a bounce
    assert rcpt_tos == [SENDER]
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    explanation, status, headers = report.get_payload()
    assert explanation.get_content_type() == "text/plain"
    assert headers.get_content_type() == "text/rfc822-headers"
    assert status.get_content_type() == "message/delivery-status"
    _, recipient = status.get_payload()
    assert (recipient["Action"], recipient["Status"]) == ("failed", "5.1.1")
    assert recipient["Final-Recipient"] == "rfc822; gone@example.com"
    assert b"Message-ID: <req-42@outreach.bank.example>" in raw  # the original's headers
    [stored] = await sandbox.mail()
    assert stored["rcpt_tos"] == ["gone@example.com"]
