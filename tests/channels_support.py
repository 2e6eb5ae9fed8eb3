"""Helpers for the channel worker and webhooks tests: the provider sandboxes on free loopback ports (over real
HTTP and SMTP), approvals, settings pointing at the sandboxes, and services run in-process."""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from schemas import events as ev
from schemas.vocab import Channel, RequestKind
from services.channels.settings import ChannelsSettings
from services.core.clock import Clock
from services.sandbox.settings import SandboxSettings
from services.sandbox.smtp_server import MailStore, SmtpSandbox, add_mail_routes, start_smtp_server
from services.sandbox.twilio_api import create_twilio_app
from services.webhooks.settings import WebhooksSettings
from tests.support import APPROVAL_PUBLIC_KEY
from tests.support import eventually as eventually  # re-exported for the channel tests

# 11:00 in New York on a Wednesday: inside every allowed window.
START = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
SMS_FROM = "+15550009000"
VOICE_FROM = "+15550009001"
AGENT = "+15550009002"
ACCOUNT_SID = "AC" + "0" * 32
VARIABLES = {
    "name": "Alex Doe",
    "payment_link": "https://pay.bank.example/p/8f3k2",
    "amount_due": "120.50",
    "currency": "USD",
    "total_outstanding": "2400.00",
    "plan_3": "800.00",
    "plan_6": "400.00",
    "plan_12": "200.00",
    "first_instalment_date": "2026-07-01",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def table_number(suffix: str, area: str = "202") -> str:
    """A number of the sandbox's fault table: ``+1 <area> 555-01<suffix>``."""
    return f"+1{area}55501{suffix}"


def phone(index: int) -> str:
    """An ordinary number (never in the fault table)."""
    return f"+1415{2000000 + index:07d}"


def approval(
    debtor: str,
    request_id: str,
    destination: str,
    *,
    channel: Channel = Channel.SMS,
    template: str = "reminder",
    language: str = "en-US",
    valid_until: datetime | None = None,
    variables: dict[str, str] | None = None,
) -> ev.ContactApproved:
    return ev.ContactApproved(
        debtor_id=debtor,
        request_id=request_id,
        decision_id=f"dec-{request_id}",
        account_id=f"acc-{debtor}",
        channel=channel,
        destination=destination,
        template=template,
        language=language,
        kind=RequestKind.OUTREACH,
        variables=VARIABLES if variables is None else variables,
        strategy="default",
        strategy_version="3",
        arm="champion",
        approved_at=START,
        valid_until=valid_until or START + timedelta(hours=6),
    )


@dataclass
class Providers:
    """The Twilio-compatible sandbox and the SMTP sandbox, with a client for their control endpoints (it
    carries the admin token); ``smtp_ca_file`` verifies the SMTP sandbox's certificate."""

    base_url: str
    smtp_port: int
    smtp_ca_file: Path | None
    tokens: list[str]
    control: httpx.AsyncClient

    async def messages(self, **query: str) -> list[dict[str, Any]]:
        return list((await self.control.get("/_sandbox/messages", params=query)).json()["messages"])

    async def calls(self, **query: str) -> list[dict[str, Any]]:
        return list((await self.control.get("/_sandbox/calls", params=query)).json()["calls"])

    async def mail(self, **query: str) -> list[dict[str, Any]]:
        return list((await self.control.get("/_sandbox/mail", params=query)).json()["mail"])

    async def raw_mail(self, mail_id: str) -> bytes:
        """The bytes the SMTP sandbox received for one mail, as a mail client would read them."""
        response = await self.control.get(f"/_sandbox/mail/{mail_id}/raw")
        assert response.status_code == 200, response.text
        return response.content

    async def faults(self, **numbers: Any) -> None:
        response = await self.control.post("/_sandbox/faults", json={"numbers": numbers})
        assert response.status_code == 200, response.text

    async def mail_faults(self, recipients: dict[str, Any]) -> None:
        response = await self.control.post("/_sandbox/mail/faults", json={"recipients": recipients})
        assert response.status_code == 200, response.text

    async def inbound(self, from_: str, body: str, url: str, to: str = SMS_FROM) -> dict[str, Any]:
        response = await self.control.post(
            "/_sandbox/inbound", json={"From": from_, "To": to, "Body": body, "Url": url}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def press(self, call_sid: str, digits: str) -> dict[str, Any]:
        response = await self.control.post(f"/_sandbox/calls/{call_sid}/digits", data={"Digits": digits})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def idle(self) -> bool:
        state = (await self.control.get("/_sandbox/idle")).json()
        return not any(state.values())


def admin_token() -> str:
    """A made-up admin token for one sandbox."""
    return f"admin-{secrets.token_hex(16)}"


def admin(token: str) -> dict[str, str]:
    """The header of a request to the sandbox's control endpoints."""
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def serve_sandbox(settings: SandboxSettings, clock: Clock) -> AsyncIterator[tuple[str, SmtpSandbox]]:
    """The Twilio-compatible and SMTP sandboxes in this process on loopback: their HTTP base URL and the SMTP
    sandbox (its port, its CA file; the ports of ``settings`` are not used: each listens on a free one)."""
    store = MailStore(clock, settings.smtp_faults)
    app = create_twilio_app(settings, clock)
    add_mail_routes(app, store)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    smtp = await start_smtp_server(settings, store)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", smtp
    finally:
        smtp.close()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def sandbox(tokens: list[str], clock: Clock, **overrides: Any) -> Any:
    """Both sandboxes in this process, on free ports, with test-friendly delays."""
    control_token = admin_token()
    options: dict[str, Any] = {
        "auth_tokens": [SecretStr(token) for token in tokens],
        "admin_token": SecretStr(control_token),
        "http_port": 0,
        "smtp_port": 0,
        "callback_delay_ms": 5,
        "gather_wait_ms": 5000,
        "slow_response_ms": 1000,
        "timeout_response_ms": 1500,
        **overrides,
    }
    async with serve_sandbox(SandboxSettings(**options), clock) as (base_url, smtp):
        control = httpx.AsyncClient(base_url=base_url, timeout=15, headers=admin(control_token))
        try:
            yield Providers(base_url, smtp.port, smtp.ca_file, tokens, control)
        finally:
            await control.aclose()


def channels_settings(
    providers: Providers, webhooks_url: str, keys: list[str], **overrides: Any
) -> ChannelsSettings:
    options: dict[str, Any] = {
        "twilio_base_url": providers.base_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(providers.tokens[0]),
        "sms_from": SMS_FROM,
        "voice_from": VOICE_FROM,
        "webhooks_base_url": webhooks_url,
        "link_signing_keys": [SecretStr(key) for key in keys],
        "approval_keys": [APPROVAL_PUBLIC_KEY],
        # TLS as in production: STARTTLS, the sandbox's certificate verified (hostname included) with its CA.
        "smtp_host": "127.0.0.1",
        "smtp_port": providers.smtp_port,
        "smtp_ca_file": providers.smtp_ca_file,
        "mail_from": "Example Bank <collections@bank.example>",
        "create_timeout_seconds": 0.5,
        "reconcile_delay_seconds": 0.1,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.5,
        "rate_per_second": 1000.0,
        "rate_burst": 100,
        **overrides,
    }
    return ChannelsSettings(**options)


def webhooks_settings(port: int, tokens: list[str], keys: list[str], **overrides: Any) -> WebhooksSettings:
    options: dict[str, Any] = {
        "port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        "twilio_auth_tokens": [SecretStr(token) for token in tokens],
        "link_signing_keys": [SecretStr(key) for key in keys],
        "agent_number": AGENT,
        "gather_timeout_seconds": 5,
        **overrides,
    }
    return WebhooksSettings(**options)


def signed(token: str, url: str, params: dict[str, str]) -> dict[str, str]:
    """Headers of a request signed as Twilio signs it."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}
