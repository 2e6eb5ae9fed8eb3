"""The portal's pages and forms. The link opens only the verification page (and "this is not me"); what is
owed shows only in a verified session. Every form carries the session's CSRF token (without it: 403), every
answer carries the security headers, and nothing about a request (token, address, answer, amount) is logged.

Routes: ``GET /start?token=`` (a new session bound to the link), ``POST /verify``, ``GET /account``,
``POST /promise``, ``POST /not-me``, ``POST /sign-out``, ``GET /static/portal.css``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from pydantic import BaseModel

from schemas import events as ev
from schemas.callbacks import PORTAL_START, TOKEN_PARAM
from schemas.verification import matches
from services.core.clock import Clock
from services.messaging.links import LinkSigner
from services.portal import actions, guard
from services.portal.book import Book, DebtorFile, local_today
from services.portal.i18n import Locale, Locales
from services.portal.metrics import PortalMetrics
from services.portal.settings import PortalSettings

log = logging.getLogger(__name__)

Publish = Callable[[list[tuple[BaseModel, str]]], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATIC = Path(__file__).parent / "static"
FACTOR_ORDER = (
    ev.KnowledgeFactorKind.DATE_OF_BIRTH,
    ev.KnowledgeFactorKind.POSTCODE,
    ev.KnowledgeFactorKind.ACCOUNT_LAST4,
)
FORM = "application/x-www-form-urlencoded"

# No script at all, styles from the portal itself, forms only to the portal, never framed, never cached.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


class Once:
    """One publication per action id: a copy arriving while the first is in hand waits for it, a copy after
    it is recognised (here, or on the log through the read model) and publishes nothing."""

    def __init__(self, book: Book, size: int = 100_000) -> None:
        self.book = book
        self.size = size
        self._flights: dict[str, asyncio.Future[None]] = {}
        self._done: dict[str, None] = {}

    async def publish(self, publish: Publish, event: BaseModel, event_id: str) -> bool:
        """True if this call published it, False for a duplicate."""
        if event_id in self._done or self.book.seen(event_id):
            return False
        flight = self._flights.get(event_id)
        if flight is not None:
            await asyncio.shield(flight)
            return False
        flight = asyncio.get_running_loop().create_future()
        self._flights[event_id] = flight
        try:
            await publish([(event, event_id)])
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: the waiting copies see it, nobody else needs to
            raise
        finally:
            self._flights.pop(event_id, None)
        flight.set_result(None)
        self._done[event_id] = None
        while len(self._done) > self.size:
            self._done.pop(next(iter(self._done)))
        return True


class Portal:
    def __init__(
        self,
        config: PortalSettings,
        book: Book,
        publish: Publish,
        clock: Clock,
        metrics: PortalMetrics,
        locales: Locales,
    ) -> None:
        self.config = config
        self.book = book
        self.publish = publish
        self.clock = clock
        self.metrics = metrics
        self.locales = locales
        self.links = LinkSigner(config.link_signing_keys)
        self.keys = [k.get_secret_value().encode() for k in config.knowledge_keys]
        window = timedelta(minutes=config.attempt_window_minutes)
        self.per_link = guard.Attempts(
            config.max_attempts_per_link, timedelta(hours=config.link_lifetime_hours)
        )
        self.per_client = guard.Attempts(config.max_attempts_per_client, window)
        self.once = Once(book)
        self.lifetime = timedelta(hours=config.link_lifetime_hours)
        self.limits = actions.PromiseLimits(config.promise_max_days, config.promise_min_amount)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(PORTAL_START, self._timed("start", self.start)),
            web.post("/verify", self._timed("verify", self.verify)),
            web.get("/account", self._timed("account", self.account)),
            web.post("/promise", self._timed("promise", self.promise)),
            web.post("/not-me", self._timed("not_me", self.not_me)),
            web.post("/sign-out", self._timed("sign_out", self.sign_out)),
            web.get("/static/portal.css", self.stylesheet),
        ]

    def _timed(self, page: str, handler: Handler) -> Handler:
        async def timed(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            try:
                return await handler(request)
            finally:
                self.metrics.request_seconds.labels(page).observe(time.perf_counter() - started)

        return timed

    # ---- rendering --------------------------------------------------------------------------------

    def _locale(self, file: DebtorFile | None) -> Locale:
        return self.locales.get(file.language if file else "en-US")

    def _render(
        self, request: web.Request, name: str, locale: Locale, status: int = 200, **context: Any
    ) -> web.Response:
        return aiohttp_jinja2.render_template(
            name, request, {"t": locale, "w": locale.words, **context}, status=status
        )

    def _refuse(
        self, request: web.Request, reason: str, status: int, file: DebtorFile | None = None
    ) -> web.Response:
        self.metrics.refused.labels(reason).inc()
        locale = self._locale(file)
        key = {"csrf": "forbidden", "session": "session_ended"}.get(reason, "link_invalid")
        return self._render(request, "refused.html", locale, status=status, message=locale.words[key])

    # ---- session -----------------------------------------------------------------------------------

    def _link_of(self, session: Session, now: datetime) -> tuple[str, str, str] | None:
        """(debtor, address, link fingerprint) of the session, while its link is within its lifetime."""
        link = session.get("link")
        if not isinstance(link, dict):
            return None
        debtor, address, issued, fp = link.get("d"), link.get("e"), link.get("i"), link.get("f")
        if not (isinstance(debtor, str) and isinstance(address, str) and isinstance(issued, int)):
            return None
        if not isinstance(fp, str) or now - datetime.fromtimestamp(issued, tz=now.tzinfo) > self.lifetime:
            return None
        return debtor, address, fp

    async def _action_form(
        self, request: web.Request, session: Session, file: DebtorFile | None = None
    ) -> tuple[dict[str, str], str] | web.Response:
        """An action's posted form and its nonce (the action's event id comes from it), or the 403 to answer
        a form without the session's CSRF token or a valid nonce."""
        form = await self._form(request, session)
        if form is None:
            return self._refuse(request, "csrf", 403)
        nonce = form.get("nonce", "")
        if not guard.valid_nonce(nonce):
            return self._refuse(request, "csrf", 403, file)
        return form, nonce

    async def _form(self, request: web.Request, session: Session) -> dict[str, str] | None:
        """The posted form if it carries the session's CSRF token, else None (the caller answers 403)."""
        if request.content_type != FORM:
            return None
        try:
            posted = await request.post()
        except ValueError:
            return None
        form = {k: v for k, v in posted.items() if isinstance(v, str)}
        return form if guard.csrf_ok(session.get("csrf"), form.get("csrf")) else None

    def _client(self, request: web.Request) -> str:
        header = self.config.client_address_header
        if header and (value := request.headers.get(header)):
            return "client:" + value.split(",")[-1].strip()[:64]
        return "client:" + (request.remote or "-")

    # ---- pages -------------------------------------------------------------------------------------

    async def start(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        opened = guard.open_link(self.links, request.query.get(TOKEN_PARAM, ""), now, self.lifetime)
        if isinstance(opened, guard.LinkProblem):
            return self._refuse(request, f"link_{opened.value}", 403)
        # A new session for every link followed: nothing of an earlier session (another debtor's) survives.
        session = await new_session(request)
        token = opened.token
        session["link"] = {
            "d": token.debtor_id,
            "e": token.address,
            "i": token.issued_at,
            "f": opened.fingerprint,
        }
        session["csrf"] = guard.new_secret()
        return self._start_page(request, session, token.debtor_id, opened.fingerprint, now)

    def _start_page(
        self,
        request: web.Request,
        session: Session,
        debtor_id: str,
        fp: str,
        now: datetime,
        wrong: int | None = None,
        status: int = 200,
    ) -> web.Response:
        file = self.book.debtor(debtor_id)
        factors = file.factors() if file else {}
        factor = next((k.value for k in FACTOR_ORDER if k in factors), None)
        locked = self.per_link.locked(fp, now) or self.per_client.locked(self._client(request), now)
        return self._render(
            request,
            "start.html",
            self._locale(file),
            status=status,
            csrf=session["csrf"],
            nonce=guard.new_nonce(),
            factor=factor,
            locked=locked,
            wrong=wrong,
        )

    async def verify(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        session = await get_session(request)
        linked = self._link_of(session, now)
        if linked is None:
            return self._refuse(request, "session", 403)
        form = await self._form(request, session)
        if form is None:
            return self._refuse(request, "csrf", 403)
        debtor_id, _, fp = linked
        client = self._client(request)
        if self.per_link.locked(fp, now) or self.per_client.locked(client, now):
            self.metrics.verifications.labels("locked").inc()
            return self._start_page(request, session, debtor_id, fp, now, status=429)
        file = self.book.debtor(debtor_id)
        factors = file.factors() if file else {}
        try:
            kind = ev.KnowledgeFactorKind(form.get("kind", ""))
        except ValueError:
            kind = None
        factor = factors.get(kind) if kind is not None else None
        if factor is None:
            self.metrics.verifications.labels("unavailable").inc()
            return self._start_page(request, session, debtor_id, fp, now, status=400)
        answer = form.get("answer", "")
        if any(matches(key, factor.kind, answer, factor.hash) for key in self.keys):
            self.metrics.verifications.labels("verified").inc()
            self.per_link.forget(fp)
            session["verified"] = True
            session["csrf"] = guard.new_secret()  # a new token once verified
            raise web.HTTPSeeOther("/account")
        self.per_link.wrong(fp, now)
        self.per_client.wrong(client, now)
        locked = self.per_link.locked(fp, now) or self.per_client.locked(client, now)
        self.metrics.verifications.labels("locked" if locked else "wrong").inc()
        left = min(self.per_link.left(fp, now), self.per_client.left(client, now))
        return self._start_page(
            request,
            session,
            debtor_id,
            fp,
            now,
            wrong=None if locked else left,
            status=429 if locked else 200,
        )

    def _verified(self, session: Session, now: datetime) -> DebtorFile | None:
        linked = self._link_of(session, now)
        if linked is None or session.get("verified") is not True:
            return None
        return self.book.debtor(linked[0]) or DebtorFile(linked[0])

    async def account(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        session = await get_session(request)
        file = self._verified(session, now)
        if file is None:
            return self._refuse(request, "session", 403)
        return self._account_page(request, session, file, now)

    def _account_page(
        self,
        request: web.Request,
        session: Session,
        file: DebtorFile,
        now: datetime,
        problems: list[actions.Problem] | None = None,
        status: int = 200,
    ) -> web.Response:
        locale = self._locale(file)
        accounts = []
        for a in file.in_collections():
            assert a.overdue is not None
            currency = a.overdue.currency
            accounts.append(
                {
                    "account_id": a.account_id,
                    "label": "…" + a.account_id[-4:],
                    "product": a.overdue.product,
                    "past_due": locale.money(a.past_due, currency),
                    "outstanding": locale.money(a.outstanding, currency),
                    "due_date": locale.day(a.overdue.due_date),
                    "days_past_due": a.overdue.days_past_due,
                    "payments": [
                        {"date": locale.day(p.posted_at.date()), "amount": locale.money(p.amount, p.currency)}
                        for p in a.recent_payments[:5]
                    ],
                }
            )
        recent = (
            list(file.contacts)[-self.config.recent_contacts :][::-1] if self.config.recent_contacts else []
        )
        today = local_today(now, file.timezone)
        return self._render(
            request,
            "account.html",
            locale,
            status=status,
            csrf=session["csrf"],
            nonce=guard.new_nonce(),
            accounts=accounts,
            contacts=[{"channel": c.channel, "date": locale.day(c.at)} for c in recent],
            problems=[p.value for p in problems or []],
            earliest=(today + timedelta(days=1)).isoformat(),
            latest=(today + timedelta(days=self.config.promise_max_days)).isoformat(),
        )

    async def promise(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        session = await get_session(request)
        file = self._verified(session, now)
        if file is None:
            return self._refuse(request, "session", 403)
        checked = await self._action_form(request, session, file)
        if isinstance(checked, web.Response):
            return checked
        form, nonce = checked
        made = actions.promise(
            file,
            form.get("account", ""),
            form.get("amount", ""),
            form.get("date", ""),
            nonce,
            now,
            self.limits,
        )
        if isinstance(made, list):
            self.metrics.actions.labels("promise", "invalid").inc()
            return self._account_page(request, session, file, now, problems=made, status=400)
        event, event_id = made
        published = await self.once.publish(self.publish, event, event_id)
        self.metrics.actions.labels("promise", "recorded" if published else "duplicate").inc()
        locale = self._locale(file)
        message = (
            f"{locale.words['promise_done']} {locale.money(event.amount, event.currency)}, "
            f"{locale.day(event.promised_date)}"
        )
        return self._render(request, "done.html", locale, message=message, back=True)

    async def not_me(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        session = await get_session(request)
        linked = self._link_of(session, now)
        if linked is None:
            return self._refuse(request, "session", 403)
        checked = await self._action_form(request, session)
        if isinstance(checked, web.Response):
            return checked
        _, nonce = checked
        debtor_id, address, _ = linked
        event, event_id = actions.not_me(debtor_id, address, nonce, now)
        published = await self.once.publish(self.publish, event, event_id)
        self.metrics.actions.labels("not_me", "recorded" if published else "duplicate").inc()
        locale = self._locale(self.book.debtor(debtor_id))
        # Whoever said "not me" is not the debtor: no verification on this session any more (a double submit
        # still finds its answer, once).
        session.pop("verified", None)
        return self._render(request, "done.html", locale, message=locale.words["not_me_done"], back=False)

    async def sign_out(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        form = await self._form(request, session)
        if form is None:
            return self._refuse(request, "csrf", 403)
        linked = self._link_of(session, self.clock.now())
        locale = self._locale(self.book.debtor(linked[0]) if linked else None)
        session.invalidate()
        return self._render(request, "done.html", locale, message=locale.words["signed_out"], back=False)

    async def stylesheet(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "portal.css")
        response.headers["Cache-Control"] = "no-store"
        return response
