"""The webhooks' HTTP edge, where any request may be hostile: the form read strictly, the headers every
response carries, and the HTTP server's own logging kept free of request bytes.

Request bytes are personal data here: a query string holds a signed context or an unsubscribe token (which
decodes to a debtor's email address), a form holds phone numbers and message bodies. aiohttp logs a request it
cannot parse with an exception whose text quotes the offending bytes, and an unhandled error with a traceback
whose exceptions may quote values; both reach the log here as one line naming the exception's class.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict

FORM = "application/x-www-form-urlencoded"
# Twilio's largest callbacks carry about 30 parameters.
MAX_FIELDS = 200

# Nothing the webhooks answer may be cached (TwiML and pages carry signed links), framed, or run as a page.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# The HTTP server's logger (aiohttp's request handler logs through it instead of ``aiohttp.server``).
server_log = logging.getLogger("services.webhooks.server")


class Malformed(Exception):
    """The request cannot be read as a form: 400, and a warning that says why without quoting it."""


async def read_form(request: web.Request) -> MultiDict[str]:
    """The posted form: urlencoded UTF-8, as Twilio and browsers send it. A body over the size limit raises
    aiohttp's 413."""
    if request.content_type != FORM:
        raise Malformed("not a urlencoded form")
    if (request.charset or "utf-8").lower() != "utf-8":
        raise Malformed("a charset other than UTF-8")
    body = await request.read()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise Malformed("a form that is not UTF-8") from None
    except ValueError:
        raise Malformed(f"more than {MAX_FIELDS} fields") from None
    return MultiDict(pairs)


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, errors included; a page's own stricter headers stay."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def where(exc: BaseException) -> str:
    """An exception as a log line may show it: its class and the line that raised it, none of its text."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


class _NoRequestBytes(logging.Filter):
    """Rewrites what aiohttp's request handler logs with an exception into one line without its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True  # aiohttp's own fixed sentences
        if isinstance(exc, HttpProcessingError):
            # Bad requests are the client's problem; a port scan must not page anyone.
            record.levelno = min(record.levelno, logging.WARNING)
            record.msg, record.args = "refused a malformed request (%s)", (type(exc).__name__,)
        else:
            record.msg, record.args = "request failed: %s", (where(exc),)
        record.levelname = logging.getLevelName(record.levelno)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


server_log.addFilter(_NoRequestBytes())


def runner(app: web.Application) -> web.AppRunner:
    """The app's runner with no access log (request lines carry query strings) and the filtered logger."""
    app.on_response_prepare.append(secure_headers)
    return web.AppRunner(app, access_log=None, logger=server_log, shutdown_timeout=5)
