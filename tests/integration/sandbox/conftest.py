"""Fixtures for the provider sandbox tests: a sandbox on free loopback ports, a webhook receiver that
checks Twilio signatures the way a real webhook service would, and a deadline-bounded wait."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from services.core.clock import ManualClock
from services.sandbox.settings import SandboxSettings
from tests import support
from tests.channels_support import admin, admin_token, serve_sandbox

# A Monday, far from the wall clock, so that any timestamp taken from the wrong clock shows.
START = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
START_RFC2822 = "Mon, 02 Mar 2026 01:30:00 +0000"
SENDER = "+15550009000"


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """``tests.support.eventually`` with the sandbox's tighter defaults (everything here is in-process)."""
    return await support.eventually(check, timeout, interval)


@dataclass
class Hit:
    """One request the receiver got."""

    method: str
    path: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    signature_valid: bool


@dataclass
class Receiver:
    """A stand-in webhook service: records every request and answers what a test told it to."""

    token: str
    base_url: str = ""
    hits: list[Hit] = field(default_factory=list)
    replies: dict[str, tuple[int, str]] = field(default_factory=dict)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)

    def url(self, path_and_query: str) -> str:
        return self.base_url + path_and_query

    def reply(self, path: str, body: str, status: int = 200) -> None:
        self.replies[path] = (status, body)

    def redirect(self, path: str, location: str, status: int = 307) -> None:
        self.redirects[path] = (status, location)

    def at(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        url = str(request.url)
        signature = request.headers.get("X-Twilio-Signature", "")
        if request.method == "POST":
            form = await request.post()
            validator_params: Any = form
            params = {key: str(value) for key, value in form.items()}
        else:
            validator_params, params = {}, dict(request.query)
        valid = RequestValidator(self.token).validate(url, validator_params, signature)
        self.hits.append(Hit(request.method, request.path, url, params, dict(request.headers), valid))
        if request.path in self.redirects:
            status, location = self.redirects[request.path]
            return web.Response(status=status, headers={"Location": location})
        status, body = self.replies.get(request.path, (200, ""))
        return web.Response(status=status, text=body, content_type="text/xml" if body else "text/plain")


@dataclass
class Sandbox:
    """A running sandbox and clients for its API and its control endpoints (each with its credentials)."""

    settings: SandboxSettings
    clock: ManualClock
    base_url: str
    smtp_port: int
    smtp_ca_file: Path | None
    api: httpx.AsyncClient
    control: httpx.AsyncClient

    @property
    def account(self) -> str:
        return f"/2010-04-01/Accounts/{self.settings.account_sid}"

    async def send_sms(self, to: str, body: str = "Hello from the bank", **extra: Any) -> httpx.Response:
        data = {"To": to, "From": SENDER, "Body": body, **extra}
        return await self.api.post(f"{self.account}/Messages.json", data=data)

    async def call(self, to: str, **extra: Any) -> httpx.Response:
        data = {"To": to, "From": SENDER, **extra}
        return await self.api.post(f"{self.account}/Calls.json", data=data)

    async def ledger(self, **query: str) -> list[dict[str, Any]]:
        response = await self.control.get("/_sandbox/messages", params=query)
        return list(response.json()["messages"])

    async def calls(self, **query: str) -> list[dict[str, Any]]:
        response = await self.control.get("/_sandbox/calls", params=query)
        return list(response.json()["calls"])

    async def call_record(self, sid: str) -> dict[str, Any]:
        return next(call for call in await self.calls() if call["sid"] == sid)

    async def mail(self) -> list[dict[str, Any]]:
        return list((await self.control.get("/_sandbox/mail")).json()["mail"])


@pytest.fixture(scope="session")
def tokens() -> list[str]:
    """Two obviously fake auth tokens, made up per run: the primary and the one being rotated in."""
    return [f"fake-{secrets.token_hex(12)}", f"fake-{secrets.token_hex(12)}"]


@contextlib.asynccontextmanager
async def serve_receiver(token: str, host: str = "127.0.0.1") -> AsyncIterator[Receiver]:
    hook = Receiver(token=token)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    hook.base_url = f"http://{host}:{runner.addresses[0][1]}"
    try:
        yield hook
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver(tokens: list[str]) -> AsyncIterator[Receiver]:
    async with serve_receiver(tokens[0]) as hook:
        yield hook


MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def make_sandbox(tokens: list[str], receiver: Receiver) -> AsyncIterator[MakeSandbox]:
    """Start a sandbox with test-friendly settings (short delays), overridable per test."""
    running = contextlib.AsyncExitStack()

    async def make(**overrides: Any) -> Sandbox:
        options: dict[str, Any] = {
            "auth_tokens": [SecretStr(token) for token in tokens],
            "admin_token": SecretStr(admin_token()),
            "http_port": 0,
            "smtp_port": 0,
            "callback_delay_ms": 5,
            "gather_wait_ms": 200,
            "inbound_url": receiver.url("/inbound"),
            **overrides,
        }
        settings = SandboxSettings(**options)
        clock = ManualClock(START)
        base_url, smtp = await running.enter_async_context(serve_sandbox(settings, clock))
        # Plain HTTP on loopback: verify=False only spares loading the CA bundle for every client.
        api = httpx.AsyncClient(
            base_url=base_url, auth=(settings.account_sid, tokens[0]), timeout=10, verify=False
        )
        control = httpx.AsyncClient(
            base_url=base_url,
            timeout=10,
            verify=False,
            headers=admin(settings.admin_token.get_secret_value()),
        )
        running.push_async_callback(control.aclose)
        running.push_async_callback(api.aclose)
        return Sandbox(settings, clock, base_url, smtp.port, smtp.ca_file, api, control)

    async with running:
        yield make


@pytest.fixture
async def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    return await make_sandbox()
