"""Twilio-compatible HTTP sandbox: the Messages and Calls REST endpoints in Twilio's protocol, and the
``/_sandbox/`` control endpoints that tests and the demo drive it with.

Every control endpoint requires the admin token (``Authorization: Bearer``): they inject inbound SMS signed
with the auth token, change what the sandbox answers, and show every message, call and mail it received.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDict
from pydantic import ValidationError

from services.core.clock import Clock
from services.sandbox.settings import Behaviour, SandboxSettings
from services.sandbox.twilio_engine import TwilioSandbox
from services.sandbox.twilio_faults import FaultUpdate, Resource
from services.sandbox.twilio_records import API_VERSION, CallRecord, MessageRecord, mask_number, request_id_of

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 1600
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

SANDBOX = web.AppKey("twilio_sandbox", TwilioSandbox)
# Other sandboxes mounted on the same app (the mail store) register here to be cleared by /_sandbox/reset.
RESET_HOOKS: web.AppKey[list[Callable[[], None]]] = web.AppKey("reset_hooks")
_UNCOUNTED_PATHS = frozenset({"/_sandbox/idle", "/healthz"})
CONTROL_PREFIX = "/_sandbox/"


def twilio_error(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return _json(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
        headers=headers,
    )


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def create_twilio_app(settings: SandboxSettings, clock: Clock) -> web.Application:
    sandbox = TwilioSandbox(settings, clock)
    app = web.Application(middlewares=[_require_admin, _count_in_flight])
    app[SANDBOX] = sandbox
    app[RESET_HOOKS] = []

    async def start(_: web.Application) -> None:
        await sandbox.start()

    async def shutdown(_: web.Application) -> None:
        await sandbox.shutdown()

    async def cleanup(_: web.Application) -> None:
        await sandbox.cleanup()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    account = f"/{API_VERSION}/Accounts/{{account_sid}}"
    app.add_routes(
        [
            web.post(f"{account}/Messages.json", _create_message),
            web.get(f"{account}/Messages.json", _list_messages),
            web.get(f"{account}/Messages/{{sid}}.json", _fetch_message),
            web.post(f"{account}/Calls.json", _create_call),
            web.get(f"{account}/Calls.json", _list_calls),
            web.get(f"{account}/Calls/{{sid}}.json", _fetch_call),
            web.get("/_sandbox/messages", _sandbox_messages),
            web.get("/_sandbox/calls", _sandbox_calls),
            web.post("/_sandbox/calls/{sid}/digits", _press_digits),
            web.post("/_sandbox/calls/{sid}/silence", _stay_silent),
            web.post("/_sandbox/inbound", _inbound),
            web.get("/_sandbox/faults", _get_faults),
            web.post("/_sandbox/faults", _set_faults),
            web.get("/_sandbox/idle", _idle),
            web.post("/_sandbox/reset", _reset),
            web.get("/healthz", _healthz),
        ]
    )
    return app


def _authenticate(request: web.Request) -> web.Response | None:
    """None when the request carries this account's SID and one of the accepted tokens."""
    settings = request.app[SANDBOX].settings
    try:
        auth = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
    except ValueError:
        auth = None
    account = settings.account_sid
    if (
        auth is not None
        and hmac.compare_digest(auth.login, account)
        and request.match_info.get("account_sid") == account
        and any(
            hmac.compare_digest(auth.password, token.get_secret_value()) for token in settings.auth_tokens
        )
    ):
        return None
    log.warning("rejected API request with bad credentials path=%s", request.path)
    return twilio_error(
        401,
        20003,
        "Authentication Error - invalid username",
        {"WWW-Authenticate": 'Basic realm="Twilio API"'},
    )


@web.middleware
async def _require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    expected = request.app[SANDBOX].settings.admin_token.get_secret_value()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode()):
        return await handler(request)
    log.warning("rejected control request without the admin token path=%s", request.path)
    return _json(
        {"error": "the control endpoints need Authorization: Bearer <SANDBOX_ADMIN_TOKEN>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="sandbox control"'},
    )


@web.middleware
async def _count_in_flight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _UNCOUNTED_PATHS:
        return await handler(request)
    sandbox = request.app[SANDBOX]
    sandbox.in_flight += 1
    try:
        return await handler(request)
    finally:
        sandbox.in_flight -= 1


async def _form(request: web.Request) -> MultiDict[str]:
    posted = await request.post()
    return MultiDict((key, value) for key, value in posted.items() if isinstance(value, str))


async def _form_or_json(request: web.Request) -> Mapping[str, str]:
    if request.content_type == "application/json":
        payload = await request.json()
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return {str(key): str(value) for key, value in payload.items() if value is not None}
    return await _form(request)


def _rejection(behaviour: Behaviour, to: str, resource: Resource) -> web.Response | None:
    """Twilio's answer to a create it refuses before anything exists."""
    if behaviour is Behaviour.INVALID_NUMBER:
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if behaviour is Behaviour.OPTED_OUT:
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    if behaviour is Behaviour.NOT_SMS_CAPABLE:
        return twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")
    if behaviour is Behaviour.REGION_NOT_ENABLED and resource == "message":
        return twilio_error(
            400,
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "
            + to,
        )
    if behaviour is Behaviour.REGION_NOT_ENABLED:
        return twilio_error(
            400,
            21215,
            f"Account not authorized to call {to}. Perhaps you need to enable some international permissions",
        )
    if behaviour is Behaviour.RATE_LIMITED:
        return twilio_error(429, 20429, "Too Many Requests")
    if behaviour is Behaviour.ERROR_BEFORE_CREATE:
        return twilio_error(500, 20500, "An internal server error has occurred")
    return None


async def _before_create(
    sandbox: TwilioSandbox, behaviour: Behaviour, to: str, resource: Resource
) -> web.Response | None:
    if behaviour is Behaviour.SLOW:
        await asyncio.sleep(sandbox.settings.slow_response_ms / 1000)
        return None
    if behaviour is Behaviour.TIMEOUT_BEFORE_CREATE:
        await sandbox.hang()
        return twilio_error(503, 20503, "Service Unavailable")
    rejection = _rejection(behaviour, to, resource)
    if rejection is not None:
        log.info("%s create refused to=%s fault=%s", resource, mask_number(to), behaviour.value)
    return rejection


async def _after_create(
    sandbox: TwilioSandbox, behaviour: Behaviour, record: MessageRecord | CallRecord
) -> web.Response:
    payload = record.api_json(sandbox.settings.price_unit)
    if behaviour is Behaviour.ERROR_AFTER_CREATE:
        record.client_status = 500
        return twilio_error(500, 20500, "An internal server error has occurred")
    if behaviour is Behaviour.TIMEOUT_AFTER_CREATE:
        # client_status stays null: by the time this answer leaves, the client has given up.
        await sandbox.hang()
    else:
        record.client_status = 201
    return _json(payload, status=201)


def _not_found(request: web.Request) -> web.Response:
    return twilio_error(404, 20404, f"The requested resource {request.path} was not found")


async def _create_message(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if (denied := _authenticate(request)) is not None:
        return denied
    form = await _form(request)
    to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not from_:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if not _E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    behaviour = sandbox.faults.pick(to, "message")
    if (early := await _before_create(sandbox, behaviour, to, "message")) is not None:
        return early
    message = sandbox.create_message(
        to=to,
        from_=from_,
        body=body,
        status_callback=form.get("StatusCallback"),
        status_callback_method=form.get("StatusCallbackMethod", "POST").upper(),
        fault=behaviour,
    )
    return await _after_create(sandbox, behaviour, message)


async def _create_call(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if (denied := _authenticate(request)) is not None:
        return denied
    form = await _form(request)
    to, from_ = form.get("To", ""), form.get("From", "")
    if not to:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not from_:
        return twilio_error(400, 21213, "No 'From' number is specified")
    if not form.get("Url") and not form.get("Twiml"):
        return twilio_error(400, 21205, "Url parameter is required.")
    if not _E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    behaviour = sandbox.faults.pick(to, "call")
    if (early := await _before_create(sandbox, behaviour, to, "call")) is not None:
        return early
    call = sandbox.create_call(form, behaviour)
    return await _after_create(sandbox, behaviour, call)


async def _fetch_message(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if (denied := _authenticate(request)) is not None:
        return denied
    message = sandbox.messages.get(request.match_info["sid"])
    if message is None:
        return _not_found(request)
    return _json(message.api_json(sandbox.settings.price_unit))


async def _fetch_call(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if (denied := _authenticate(request)) is not None:
        return denied
    call = sandbox.calls.get(request.match_info["sid"])
    if call is None:
        return _not_found(request)
    return _json(call.api_json(sandbox.settings.price_unit))


async def _list_messages(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if (denied := _authenticate(request)) is not None:
        return denied
    try:
        found = sandbox.list_messages(request.query)
        unit = sandbox.settings.price_unit
        return _json(_page(request, [message.api_json(unit) for message in found], "messages"))
    except ValueError as exc:
        return twilio_error(400, 20001, f"Invalid query: {exc}")


async def _list_calls(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if (denied := _authenticate(request)) is not None:
        return denied
    try:
        found = sandbox.list_calls(request.query)
        unit = sandbox.settings.price_unit
        return _json(_page(request, [call.api_json(unit) for call in found], "calls"))
    except ValueError as exc:
        return twilio_error(400, 20001, f"Invalid query: {exc}")


def _page(request: web.Request, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """One page of a list, with Twilio's paging fields; filters are carried into every page URI."""
    query = request.query
    page_size = min(max(int(query.get("PageSize", "50")), 1), 1000)
    page = max(int(query.get("Page", "0")), 0)
    start = page * page_size
    chunk = items[start : start + page_size]
    filters = [
        (name, value) for name, value in query.items() if name not in ("PageSize", "Page", "PageToken")
    ]

    def uri(number: int, token: str | None = None) -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
        if token:
            params.append(("PageToken", token))
        return f"{request.path}?{urlencode(params)}"

    has_next = start + page_size < len(items)
    return {
        key: chunk,
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, f"PA{chunk[-1]['sid']}") if has_next else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }


def _select(records: Iterable[MessageRecord | CallRecord], query: Mapping[str, str]) -> list[Any]:
    """Filter by ``request_id`` and ``to``; ``after=N`` skips the first N received (incremental reads)."""
    wanted_request, wanted_to = query.get("request_id"), query.get("to")
    after = int(query.get("after", "0") or 0)
    return [
        record
        for index, record in enumerate(records)
        if index >= after
        and (wanted_request is None or request_id_of(record.status_callback) == wanted_request)
        and (wanted_to is None or record.to == wanted_to)
    ]


async def _sandbox_messages(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    unit = sandbox.settings.price_unit
    selected = _select(sandbox.messages.values(), request.query)
    return _json({"messages": [message.sandbox_json(unit) for message in selected]})


async def _sandbox_calls(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    unit = sandbox.settings.price_unit
    selected = _select(sandbox.calls.values(), request.query)
    return _json({"calls": [call.sandbox_json(unit) for call in selected]})


async def _press_digits(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    call = sandbox.calls.get(request.match_info["sid"])
    if call is None:
        return _json({"error": "no such call"}, status=404)
    digits = (await _form_or_json(request)).get("Digits", "")
    if not digits:
        return _json({"error": "Digits is required"}, status=400)
    waiter = call.digit_waiter
    if waiter is None or waiter.done():
        return _json({"error": "the call is not waiting for keypad input"}, status=409)
    result = asyncio.get_running_loop().create_future()
    call.action_result = result
    waiter.set_result(digits)
    try:
        outcome = await asyncio.wait_for(result, sandbox.settings.callback_timeout_ms / 1000 + 1)
    except TimeoutError:
        outcome = {"action_url": None, "http_status": None}
    return _json({"call_sid": call.sid, "digits": digits, **outcome})


async def _stay_silent(request: web.Request) -> web.Response:
    """The person at a ``<Gather>`` presses nothing: the Gather times out now instead of after
    GATHER_WAIT_MS of wall time (a driver on a stepped clock has no reason to wait for it)."""
    call = request.app[SANDBOX].calls.get(request.match_info["sid"])
    if call is None:
        return _json({"error": "no such call"}, status=404)
    waiter = call.digit_waiter
    if waiter is None or waiter.done():
        return _json({"error": "the call is not waiting for keypad input"}, status=409)
    waiter.set_result("")
    return _json({"call_sid": call.sid, "digits": ""})


async def _inbound(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    data = await _form_or_json(request)
    missing = [name for name in ("From", "To", "Body") if not data.get(name)]
    if missing:
        return _json({"error": f"missing {', '.join(missing)}"}, status=400)
    url = data.get("Url") or sandbox.settings.inbound_url
    if not url:
        return _json({"error": "no inbound URL: set SANDBOX_INBOUND_URL or pass Url"}, status=400)
    result = await sandbox.inject_inbound(from_=data["From"], to=data["To"], body=data["Body"], url=url)
    return _json(result)


async def _get_faults(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX].faults.as_json())


async def _set_faults(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    try:
        update = FaultUpdate.model_validate_json(await request.read())
    except ValidationError as exc:
        return _json({"error": exc.errors(include_url=False, include_context=False)}, status=400)
    sandbox.faults.update(update)
    return _json(sandbox.faults.as_json())


async def _idle(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX].idle())


async def _reset(request: web.Request) -> web.Response:
    await request.app[SANDBOX].reset()
    for hook in request.app[RESET_HOOKS]:
        hook()
    return _json({"reset": True})


async def _healthz(_: web.Request) -> web.Response:
    return _json({"status": "ok"})
