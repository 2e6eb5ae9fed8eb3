"""The few calls of Twilio's REST API the SMS and voice adapters need, over httpx with a configurable
base URL.

Not the ``twilio`` package's HTTP client: it hard-codes its host, and its async client retries a POST on
5xx, which can create a message twice. Here nothing is retried; every failure is translated into the
errors of ``services.channels.errors`` according to whether the resource may have been created.
"""

from __future__ import annotations

import logging
import re
import socket
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from schemas.vocab import FailureKind
from services.channels.errors import (
    AuthenticationError,
    PermanentSendError,
    SendError,
    TransientSendError,
    UncertainSendError,
)
from services.core.masking import mask_phone
from services.messaging import twilio

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
# Refusals Twilio answers before creating anything that can succeed later.
TRANSIENT_CODES = frozenset({"20429", "21611", "14107"})
MAX_PAGES = 5
_NUMBER = re.compile(r"\+?\d{6,}")


class TwilioRest:
    """An account's Messages and Calls resources."""

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: SecretStr,
        *,
        timeout: float,
        max_connections: int = 32,
        verify: bool | str = True,
    ) -> None:
        self.account_sid = account_sid
        self._prefix = f"/{API_VERSION}/Accounts/{account_sid}"
        # No Nagle: httpx writes headers and body apart, and each small write would wait for an ACK.
        transport = httpx.AsyncHTTPTransport(
            verify=verify,
            limits=httpx.Limits(max_connections=max_connections),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(account_sid, auth_token.get_secret_value()),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def create(self, resource: str, form: list[tuple[str, str]]) -> dict[str, Any]:
        """POST a new Message or Call; the error raised says whether it may exist anyway."""
        url = f"{self._prefix}/{resource}.json"
        try:
            response = await self._client.post(url, data=dict(form))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Never connected (or never got a connection): the request was not sent.
            raise TransientSendError(f"could not reach Twilio: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            # Sent, or partly sent, and no answer: Twilio may have created it.
            raise UncertainSendError(f"no answer from Twilio: {type(exc).__name__}") from exc
        if response.status_code in (200, 201):
            try:
                body = response.json()
            except ValueError as exc:
                raise UncertainSendError("Twilio answered 201 without a readable resource") from exc
            if not isinstance(body, dict) or "sid" not in body:
                raise UncertainSendError("Twilio answered 201 without the resource's sid")
            return body
        raise _error(response, created_may_exist=response.status_code >= 500)

    async def list(self, resource: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET a filtered list, following Twilio's paging up to a few pages."""
        key = resource.lower()
        url: str | None = f"{self._prefix}/{resource}.json"
        query: dict[str, str] | None = {**params, "PageSize": "100"}
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            try:
                response = await self._client.get(url, params=query)
            except httpx.TransportError as exc:
                raise TransientSendError(f"could not list {resource}: {type(exc).__name__}") from exc
            if response.status_code != 200:
                error = _error(response, created_may_exist=False)
                if isinstance(error, AuthenticationError):
                    raise error
                raise TransientSendError(f"could not list {resource}: {error}", code=error.code)
            page = response.json()
            items.extend(page.get(key, []))
            url, query = page.get("next_page_uri"), None
        return items

    async def fetch(self, resource: str, sid: str) -> dict[str, Any] | None:
        """GET one Message or Call by its sid; None when Twilio has no such resource (404)."""
        try:
            response = await self._client.get(f"{self._prefix}/{resource}/{sid}.json")
        except httpx.TransportError as exc:
            raise TransientSendError(f"could not fetch from {resource}: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            error = _error(response, created_may_exist=False)
            if isinstance(error, AuthenticationError):
                raise error
            raise TransientSendError(f"could not fetch from {resource}: {error}", code=error.code)
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientSendError(f"Twilio answered a fetch from {resource} unreadably") from exc
        if not isinstance(body, dict):
            raise TransientSendError(f"Twilio answered a fetch from {resource} without a resource")
        return body


def _error(response: httpx.Response, *, created_may_exist: bool) -> SendError:
    try:
        body = response.json()
        code = str(body.get("code") or response.status_code)
        message = str(body.get("message") or response.reason_phrase)
    except (ValueError, AttributeError):
        code, message = str(response.status_code), response.reason_phrase
    # Twilio's messages quote the number ("The 'To' number +1... is not valid"): mask it, the text is logged.
    text = f"HTTP {response.status_code} code {code}: {_NUMBER.sub(_mask, message[:200])}"
    if response.status_code in (401, 403):
        return AuthenticationError(text, code=code)
    if created_may_exist:
        return UncertainSendError(text, code=code)
    if response.status_code == 429 or code in TRANSIENT_CODES:
        return TransientSendError(text, code=code, retry_after=_retry_after(response))
    return PermanentSendError(text, code=code, failure=twilio.failure(code) or FailureKind.REJECTED)


def _mask(match: re.Match[str]) -> str:
    return mask_phone(match.group(0))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def twilio_time(value: str | None) -> datetime | None:
    """Twilio's RFC 2822 timestamps (``Mon, 02 Mar 2026 01:30:00 +0000``)."""
    return parsedate_to_datetime(value) if value else None
