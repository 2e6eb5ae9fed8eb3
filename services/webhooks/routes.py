"""The webhook endpoints. Every Twilio request is checked (X-Twilio-Signature against the public URL, then the
platform's signed context) before anything is read from it; a request that fails gets 403 and emits
nothing. Its form is then read into the endpoint's bounded model (a field out of bounds: 400, nothing
emitted), and the request is claimed: copies arriving while it is in hand, or after, are answered 200 without
acting again. Events are acknowledged by Kafka before the provider gets its 200, so a failure gives the claim
back and is retried by the provider rather than lost. Logs show request ids and masked numbers, never bodies,
query strings or the text of an exception (which may quote them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from pydantic import BaseModel

from schemas import events as ev
from schemas import ids
from schemas.callbacks import (
    CONTEXT_PARAM,
    REQUEST_PARAM,
    TOKEN_PARAM,
    CallbackContext,
    Route,
    UnsubscribeToken,
)
from schemas.vocab import Channel, OutcomeStatus
from services.core.clock import Clock
from services.core.masking import mask_email, mask_phone
from services.messaging import twilio
from services.messaging.links import LinkSigner
from services.messaging.templates import RenderError, TemplateBook
from services.messaging.twilio import (
    FINAL_MESSAGE_STATUSES,
    MESSAGE_RANK,
    MESSAGE_STATUS,
    call_outcome,
)
from services.webhooks import events, forms, voice
from services.webhooks.directory import Directory
from services.webhooks.edge import Malformed, read_form, where
from services.webhooks.forms import (
    CallForm,
    CallStatusForm,
    GatherForm,
    InboundForm,
    MessageStatusForm,
    Refused,
    TwilioForm,
)
from services.webhooks.keywords import Intent, Matcher
from services.webhooks.memory import Claims, Furthest
from services.webhooks.metrics import WebhookMetrics
from services.webhooks.security import TwilioSignatures
from services.webhooks.settings import WebhooksSettings

log = logging.getLogger(__name__)

_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
# An X-Twilio-Signature is 28 characters (base64 of HMAC-SHA1); Twilio's idempotency tokens are shorter.
_MAX_SIGNATURE = 64
_MAX_IDEMPOTENCY_TOKEN = 128

Publish = Callable[[list[tuple[BaseModel, str]]], Awaitable[None]]
F = TypeVar("F", bound=TwilioForm)


class Forbidden(Exception):
    """The request is not from Twilio, or not about a request the platform made: 403, nothing emitted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Webhooks:
    def __init__(
        self,
        config: WebhooksSettings,
        publish: Publish,
        directory: Directory,
        templates: TemplateBook,
        keywords: Matcher,
        clock: Clock,
        metrics: WebhookMetrics,
    ) -> None:
        self.config = config
        self.publish = publish
        self.directory = directory
        self.templates = templates
        self.keywords = keywords
        self.clock = clock
        self.metrics = metrics
        self.signatures = TwilioSignatures(config.twilio_auth_tokens)
        self.links = LinkSigner(config.link_signing_keys)
        self.base = config.public_base_url.rstrip("/")
        self.claims = Claims()
        self.furthest = Furthest()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(
                Route.MESSAGE_STATUS, self._guard("message_status", MessageStatusForm, self.message_status)
            ),
            web.post(Route.CALL_STATUS, self._guard("call_status", CallStatusForm, self.call_status)),
            web.post(Route.CALL_ANSWER, self._guard("answer", CallForm, self.answer)),
            web.post(Route.GATHER, self._guard("gather", GatherForm, self.gather)),
            web.post(Route.INBOUND, self._guard("inbound", InboundForm, self.inbound)),
            web.get(Route.UNSUBSCRIBE, self._timed("unsubscribe", self.unsubscribe_page)),
            web.post(Route.UNSUBSCRIBE, self._timed("unsubscribe", self.unsubscribe)),
        ]

    # ---- Twilio requests --------------------------------------------------------------------------

    def _guard(
        self,
        endpoint: str,
        model: type[F],
        handler: Callable[[web.Request, F], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Verify the Twilio signature, bound the form, claim the request, then hand it to ``handler``."""

        async def guarded(request: web.Request) -> web.Response:
            started = time.perf_counter()
            try:
                form = await read_form(request)
            except Malformed as exc:
                return self._bad_request(endpoint, str(exc))
            # Twilio signs the URL it was given (the public one), not the one a proxy forwarded to us.
            url = self.base + request.raw_path
            signature = request.headers.get("X-Twilio-Signature", "")
            if len(signature) > _MAX_SIGNATURE or not self.signatures.valid(url, form, signature):
                return self._forbidden(endpoint, "twilio_signature")
            retry_of = request.headers.get("I-Twilio-Idempotency-Token", "")
            if len(retry_of) > _MAX_IDEMPOTENCY_TOKEN:
                return self._bad_request(endpoint, "I-Twilio-Idempotency-Token: too long")
            try:
                parsed = forms.read(model, form)
            except Refused as exc:
                return self._bad_request(endpoint, str(exc))
            # Twilio's retry repeats its idempotency token; a captured request posted again repeats the
            # signature, which covers the URL and every parameter (the token header is not signed).
            keys = [f"signature:{signature}", *([f"retry:{retry_of}"] if retry_of else [])]
            if not self.claims.claim(keys):
                self.metrics.duplicates.labels(endpoint).inc()
                return _ok()
            response: web.Response | None = None
            try:
                response = await self._handle(endpoint, handler, request, parsed)
            finally:
                # Only a request that was acted on keeps its claim: the provider's retry of any other is new.
                if response is not None and response.status < 300:
                    self.claims.settle(keys)
                else:
                    self.claims.release(keys)
            self.metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - started)
            return response

        return guarded

    async def _handle(
        self,
        endpoint: str,
        handler: Callable[[web.Request, F], Awaitable[web.Response]],
        request: web.Request,
        form: F,
    ) -> web.Response:
        try:
            return await handler(request, form)
        except Forbidden as exc:
            return self._forbidden(endpoint, exc.reason)
        except Refused as exc:
            return self._bad_request(endpoint, str(exc))
        except Exception as exc:
            # Most likely the broker did not acknowledge the events: the provider retries on a 5xx. Its
            # text and traceback are not logged: exceptions about events quote their values.
            log.error("%s request failed, the provider will retry: %s", endpoint, where(exc))
            return web.Response(status=500, text="internal error", content_type="text/plain")

    def _forbidden(self, endpoint: str, reason: str) -> web.Response:
        self.metrics.rejected.labels(endpoint, reason).inc()
        log.warning("rejected %s request: %s", endpoint, reason)
        return web.Response(status=403, text="forbidden", content_type="text/plain")

    def _bad_request(self, endpoint: str, why: str) -> web.Response:
        """A request that cannot be acted on; ``why`` names the field or the flaw, never a value."""
        self.metrics.malformed.labels(endpoint).inc()
        log.warning("refused %s request: %s", endpoint, why)
        return web.Response(status=400, text=f"bad request: {why}", content_type="text/plain")

    def _context(self, request: web.Request) -> CallbackContext:
        ctx = CallbackContext.from_payload(self.links.verify(request.query.get(CONTEXT_PARAM, "")))
        if ctx is None or request.query.get(REQUEST_PARAM) != ctx.request_id:
            raise Forbidden("context")
        return ctx

    async def message_status(self, request: web.Request, form: MessageStatusForm) -> web.Response:
        ctx = self._context(request)
        status = form.message_status
        self.metrics.callbacks.labels("message_status", status if status in MESSAGE_STATUS else "other").inc()
        rank = MESSAGE_RANK.get(status, -1)
        # Out of order or repeated: a message that was delivered is never reported as merely sent.
        if not self.furthest.moves_forward(ctx.request_id, rank):
            self.metrics.duplicates.labels("message_status").inc()
            return _ok()
        if status not in FINAL_MESSAGE_STATUSES:
            # The worker recorded the acceptance (sent); intermediate steps add nothing to act on.
            self.furthest.record(ctx.request_id, rank)
            return _ok()
        now = self.clock.now()
        error_code = form.error_code
        out: list[tuple[BaseModel, str]] = []
        result = events.outcome(
            ctx,
            MESSAGE_STATUS[status],
            ids.Observer.CALLBACK,
            now,
            final=True,
            provider_ref=form.message_sid,
            error_code=error_code,
            detail=f"twilio status {status}",
        )
        out.append((result, result.outcome_id))
        if error_code == twilio.OPTED_OUT_CODE and form.to is not None:  # the form requires it then
            change = events.consent(
                ctx.debtor_id,
                form.to,
                Channel.SMS,
                ev.ConsentChange.OPT_OUT,
                ev.ConsentSource.PROVIDER,
                now,
            )
            out.append((change, ids.provider_opt_out_id(ctx.request_id)))
        await self.publish(out)
        self.furthest.record(ctx.request_id, rank)
        log.info("message status request=%s status=%s", ctx.request_id, status)
        return _ok()

    async def call_status(self, request: web.Request, form: CallStatusForm) -> web.Response:
        ctx = self._context(request)
        status = form.call_status
        self.metrics.callbacks.labels("call_status", status).inc()
        mapped = call_outcome(status, form.answered_by)
        if mapped is None:
            return _ok()
        duration = form.call_duration
        result = events.outcome(
            ctx,
            mapped,
            ids.Observer.CALLBACK,
            self.clock.now(),
            final=True,
            provider_ref=form.call_sid,
            error_code=form.error_code,
            detail=f"twilio status {status}",
            duration=duration,
            cost=events.call_cost(duration, self.config.call_price_per_minute),
            currency=self.config.price_currency,
        )
        await self.publish([(result, result.outcome_id)])
        log.info("call status request=%s status=%s outcome=%s", ctx.request_id, status, mapped.value)
        return _ok()

    async def answer(self, request: web.Request, form: CallForm) -> web.Response:
        """The call was answered: the menu for a person, the limited-content voicemail for a machine."""
        ctx = self._context(request)
        answered_by = form.answered_by or ""
        machine = answered_by.startswith("machine") or answered_by == "fax"
        self.metrics.callbacks.labels("answer", "machine" if machine else "human").inc()
        say = self.templates.voice(ctx.language)
        try:
            if machine:
                text = self._say(ctx, ctx.template, "voicemail")
                return _twiml(voice.say_and_hang_up(text, say))
            menu = self._say(ctx, ctx.template, "menu")
            goodbye = self._say(ctx, "keypad", "goodbye")
        except RenderError as exc:
            log.error("request %s: voice template cannot be rendered (%s); hanging up", ctx.request_id, exc)
            return _twiml(voice.hang_up())
        action = f"{self.base}{Route.GATHER.value}?{request.raw_path.partition('?')[2]}"
        return _twiml(voice.menu(menu, goodbye, say, action, self.config.gather_timeout_seconds))

    async def gather(self, request: web.Request, form: GatherForm) -> web.Response:
        """A key was pressed: 1 promises to pay and asks for the payment link by SMS; 2 reaches an agent."""
        ctx = self._context(request)
        try:
            return await self._pressed(ctx, form)
        except RenderError as exc:
            # What the key asked for is published by now; only the spoken confirmation is missing.
            log.error("request %s: keypad prompt cannot be rendered (%s); hanging up", ctx.request_id, exc)
            return _twiml(voice.hang_up())

    async def _pressed(self, ctx: CallbackContext, form: GatherForm) -> web.Response:
        digits = form.digits
        self.metrics.callbacks.labels("gather", digits if digits in ("1", "2") else "other").inc()
        say = self.templates.voice(ctx.language)
        now = self.clock.now()
        call_sid = form.call_sid
        if digits == "1":
            out: list[tuple[BaseModel, str]] = []
            promise = events.promise(ctx, now.date(), self.config.promise_days, now)
            if promise is not None:
                out.append((promise, promise.promise_id))
            else:
                log.error(
                    "request %s: no amount due in the call context; no promise recorded", ctx.request_id
                )
            to = form.to or form.called
            if to is not None:
                valid = timedelta(hours=self.config.reply_valid_hours)
                reply = events.payment_link_request(ctx, to, now, valid)
                out.append((reply, reply.request_id))
            else:
                log.warning("request %s: keypad 1 without the called number; no payment link", ctx.request_id)
            spoke = events.outcome(
                ctx,
                OutcomeStatus.CONVERSATION,
                ids.Observer.KEYPAD,
                now,
                final=False,
                provider_ref=call_sid,
                detail="keypad 1",
            )
            out.append((spoke, spoke.outcome_id))
            await self.publish(out)
            return _twiml(voice.say_and_hang_up(self._say(ctx, "keypad", "promise"), say))
        if digits == "2" and self.config.agent_number:
            transfer = events.outcome(
                ctx,
                OutcomeStatus.AGENT_TRANSFER,
                ids.Observer.KEYPAD,
                now,
                final=False,
                provider_ref=call_sid,
                detail="keypad 2",
            )
            await self.publish([(transfer, transfer.outcome_id)])
            caller_id = form.from_ or form.caller or ""
            return _twiml(
                voice.transfer(self._say(ctx, "keypad", "transfer"), say, self.config.agent_number, caller_id)
            )
        return _twiml(voice.say_and_hang_up(self._say(ctx, "keypad", "goodbye"), say))

    def _say(self, ctx: CallbackContext, template: str, part: str) -> str:
        rendered = self.templates.render(Channel.VOICE, template, ctx.language, ctx.variables, parts=(part,))
        return rendered.parts[part]

    async def inbound(self, request: web.Request, form: InboundForm) -> web.Response:
        """An SMS from a debtor: STOP and its kin opt out, START opts back in, HELP asks for the help text."""
        intent = self.keywords.classify(form.body)
        self.metrics.callbacks.labels("inbound", intent.value).inc()
        if intent is Intent.OTHER:
            return _twiml(_EMPTY_TWIML)
        phone = form.from_
        debtors = self.directory.debtors(phone)
        if not debtors and await self.directory.caught_up(self.config.directory_wait_seconds):
            # A profile published just before the SMS may not have been read yet.
            debtors = self.directory.debtors(phone)
        if not debtors:
            self.metrics.unmatched.inc()
            log.warning("inbound %s from %s matches no debtor", intent.value, mask_phone(phone))
            return _twiml(_EMPTY_TWIML)
        now = self.clock.now()
        # Without a message id, the provider's retry token (or, lacking one, the second it reached us)
        # stands for the message: a retry keeps its ids, a later STOP or START gets new ones.
        at = request.headers.get("I-Twilio-Idempotency-Token") or now.isoformat(timespec="seconds")
        message_ref = form.message_sid or f"{phone}@{at}"
        out: list[tuple[BaseModel, str]] = []
        if intent is not Intent.HELP:
            change = ev.ConsentChange.OPT_OUT if intent is Intent.OPT_OUT else ev.ConsentChange.OPT_IN
            for debtor in debtors:
                consent = events.consent(debtor, phone, Channel.SMS, change, ev.ConsentSource.SMS_REPLY, now)
                consent_id = ids.inbound_consent_id(debtor, form.message_sid, change.value, phone, at)
                out.append((consent, consent_id))
        answers = {
            Intent.HELP: ("help", timedelta(hours=self.config.reply_valid_hours)),
            Intent.OPT_OUT: ("opt_out_confirmation", events.CONFIRMATION_WITHIN),
        }
        if intent in answers:
            # One answer per message, even for a number shared by several debtors.
            template, valid = answers[intent]
            debtor = debtors[0]
            profile = self.directory.profile(debtor)
            language = profile.language if profile else "en-US"
            account = self.directory.accounts.get(debtor, "none")
            reply = events.inbound_reply(template, debtor, account, phone, language, message_ref, now, valid)
            out.append((reply, reply.request_id))
        await self.publish(out)
        log.info("inbound %s from %s for %d debtor(s)", intent.value, mask_phone(phone), len(debtors))
        return _twiml(_EMPTY_TWIML)

    # ---- email unsubscribe (RFC 8058) -------------------------------------------------------------

    def _timed(
        self, endpoint: str, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def timed(request: web.Request) -> web.Response:
            started = time.perf_counter()
            response = await handler(request)
            self.metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - started)
            return response

        return timed

    def _unsubscribe_token(self, request: web.Request) -> UnsubscribeToken | None:
        return UnsubscribeToken.from_payload(self.links.verify(request.query.get(TOKEN_PARAM, "")))

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        """GET only shows a confirmation: mail scanners follow links, and must not unsubscribe anyone."""
        token = self._unsubscribe_token(request)
        if token is None:
            return self._forbidden("unsubscribe", "token")
        self.metrics.callbacks.labels("unsubscribe", "confirmation").inc()
        action = f"{Route.UNSUBSCRIBE.value}?{urlencode({TOKEN_PARAM: request.query[TOKEN_PARAM]})}"
        return _page(
            "unsubscribe.html.j2",
            title="Unsubscribe",
            masked_address=mask_email(token.address),
            action=action,
        )

    async def unsubscribe(self, request: web.Request) -> web.Response:
        """POST ``List-Unsubscribe=One-Click`` (from a mail provider, or the confirmation page) opts out."""
        token = self._unsubscribe_token(request)
        if token is None:
            return self._forbidden("unsubscribe", "token")
        try:
            form = await read_form(request)
        except Malformed as exc:
            return self._bad_request("unsubscribe", str(exc))
        if form.getall("List-Unsubscribe", []) != ["One-Click"]:
            return web.Response(
                status=400, text="expected List-Unsubscribe=One-Click", content_type="text/plain"
            )
        address, request_id = token.address, token.request_id
        change = events.consent(
            token.debtor_id,
            address,
            Channel.EMAIL,
            ev.ConsentChange.OPT_OUT,
            ev.ConsentSource.EMAIL_UNSUBSCRIBE,
            self.clock.now(),
        )
        await self.publish([(change, ids.unsubscribe_id(request_id, address))])
        self.metrics.callbacks.labels("unsubscribe", "unsubscribed").inc()
        log.info("email unsubscribe request=%s address=%s", request_id, mask_email(address))
        return _page("unsubscribed.html.j2", title="Unsubscribed")


def _ok() -> web.Response:
    return web.Response(text="", content_type="text/plain")


def _twiml(document: str) -> web.Response:
    return web.Response(text=document, content_type="text/xml")


_PAGES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "pages"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
# The pages carry a signed token and a masked address: never cached, never framed, no scripts at all.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _page(template: str, **variables: str) -> web.Response:
    return web.Response(
        text=_PAGES.get_template(template).render(**variables),
        content_type="text/html",
        headers=PAGE_HEADERS,
    )
