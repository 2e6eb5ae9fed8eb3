"""The portal in-process on the real broker (SASL_SSL, its own principal and ACLs), and Debian's headless
Chromium driven by Playwright (async API) through executable_path; skipped, saying so, without Chromium."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from schemas.callbacks import PortalToken, portal_url
from schemas.events import KnowledgeFactor, KnowledgeFactorKind
from schemas.verification import factor_hash
from services.core.clock import Clock
from services.core.settings import REPO_ROOT, CommonSettings
from services.messaging.links import LinkSigner
from services.portal.app import PortalApp
from services.portal.settings import PortalSettings

async_api = pytest.importorskip("playwright.async_api")

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
AXE = REPO_ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"
LINK_KEY = "portal-link-key-0123456789"
KNOWLEDGE_KEY = "bank-knowledge-key-0123456789"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is not installed: `make chromium` (root) or `apt-get install chromium`",
)


def portal_config(**overrides: Any) -> PortalSettings:
    values: dict[str, Any] = {
        "port": 0,
        "public_base_url": "http://127.0.0.1",
        "link_signing_keys": [SecretStr(LINK_KEY)],
        "session_key": SecretStr(base64.urlsafe_b64encode(hashlib.sha256(b"tests").digest()).decode()),
        "knowledge_keys": [SecretStr(KNOWLEDGE_KEY)],
        "max_attempts_per_link": 3,
    }
    return PortalSettings(**(values | overrides))


def factor(kind: KnowledgeFactorKind, value: str) -> KnowledgeFactor:
    digest = factor_hash(KNOWLEDGE_KEY.encode(), kind, value)
    assert digest is not None
    return KnowledgeFactor(kind=kind, hash=digest)


def link(base: str, debtor: str, address: str, issued: datetime, key: str = LINK_KEY) -> str:
    token = PortalToken(debtor_id=debtor, address=address, issued_at=int(issued.timestamp()))
    return portal_url(base, LinkSigner([SecretStr(key)]).sign(token.payload()))


class Running:
    def __init__(self, app: PortalApp) -> None:
        self.app = app

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.app.port}"

    def metric(self, name: str, **labels: str) -> float:
        return self.app.registry.get_sample_value(name, labels) or 0.0


class Portals:
    """Starts portals as the portal principal; the fixture stops them at the end of the test."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.apps: list[PortalApp] = []

    async def start(self, clock: Clock | None = None, **overrides: Any) -> Running:
        app = PortalApp(self.settings, portal_config(**overrides), clock=clock)
        await app.start()
        self.apps.append(app)
        return Running(app)


@pytest.fixture
async def portals(principal: Callable[[str], CommonSettings]) -> AsyncIterator[Portals]:
    running = Portals(principal("portal"))
    yield running
    for app in running.apps:
        await app.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    async with async_api.async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A page without JavaScript (the portal works without it), in a fresh context (no cookies)."""
    context = await browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        yield await context.new_page()
    finally:
        await context.close()
