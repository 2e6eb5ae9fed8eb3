"""The webhooks' logs hold no request bytes, whatever arrives: an over-long request line (its first bytes are
an unsubscribe token, which decodes to a debtor's address), unauthenticated garbage that aiohttp or the form
reader cannot parse, and signed requests that make no sense. Each gets a 400 and one warning line, never a
500 or a traceback. Every answer (TwiML included) is marked not to be cached, framed or run."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from schemas import events as ev
from services.messaging.links import LinkSigner
from services.webhooks.app import WebhooksApp
from tests.channels_support import VARIABLES, phone, signed
from tests.integration.channels.test_webhooks import delivered, outcomes_of, post, status_path
from tests.support import Tail

ADDRESS = "jordan.hidden@example.com"
NUMBER = "+14155550123"


async def raw(webhooks: WebhooksApp, request: bytes) -> bytes:
    """Send bytes as they are (no client would send these) and read the answer until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", webhooks.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def form_request(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> bytes:
    head = (
        "POST /twilio/messages/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# What the service under test logs through; the test's own HTTP client and Kafka consumer log elsewhere.
SERVICE_LOGGERS = ("services.", "aiohttp", "asyncio")


def check_clean(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[logging.LogRecord]:
    """No traceback, no error, none of ``secrets`` in what the service logged; returns its warnings, each
    one line."""
    ours = [r for r in caplog.records if r.name.startswith(SERVICE_LOGGERS)]
    text = "\n".join(logging.Formatter().format(record) for record in ours)
    assert "Traceback" not in text
    assert "input_value" not in text
    for secret in secrets:
        assert secret not in text
    assert all(record.exc_info is None for record in ours)
    assert [r.getMessage() for r in ours if r.levelno >= logging.ERROR] == []
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert all("\n" not in r.getMessage() for r in warnings)
    return warnings


async def test_an_over_long_request_line_logs_none_of_its_bytes(
    webhooks: WebhooksApp, link_keys: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    token = LinkSigner([SecretStr(key) for key in link_keys]).sign(
        {"k": "unsubscribe", "d": "d-long", "e": ADDRESS, "r": "r-long"}
    )
    target = f"/email/unsubscribe?{urlencode({'token': token, 'pad': 'p' * 9000})}"
    caplog.set_level(logging.DEBUG)

    answer = await raw(webhooks, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    assert status(answer) == 400
    [warning] = check_clean(caplog, token[:16], "unsubscribe?token", ADDRESS, "ppppp")
    assert warning.name == "services.webhooks.server"


@pytest.mark.parametrize(
    "request_bytes",
    [
        form_request(b"\xff\xfe\xfd=\xff"),
        form_request(b"From=%FF%FE&Body=STOP"),
        form_request(
            urlencode({"From": NUMBER, "Body": "STOP"}).encode(),
            "application/x-www-form-urlencoded; charset=bogus-8",
        ),
        form_request(urlencode({"From": NUMBER, "Body": "STOP"}).encode(), "multipart/form-data; boundary=x"),
        (
            "POST /twilio/messages/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 23\r\nTransfer-Encoding: chunked\r\n\r\n"
            f"17\r\n{urlencode({'From': NUMBER, 'B': 'S'})}\r\n0\r\n\r\n"
        ).encode(),
    ],
    ids=["raw-0xff", "percent-encoded-0xff", "bogus-charset", "not-a-urlencoded-form", "length-and-chunked"],
)
async def test_unauthenticated_garbage_gets_400_and_one_warning(
    webhooks: WebhooksApp, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    caplog.set_level(logging.DEBUG)

    answer = await raw(webhooks, request_bytes)

    assert status(answer) == 400, answer[:200]
    [_] = check_clean(caplog, NUMBER, NUMBER[2:])


async def test_a_signed_opt_out_without_the_number_is_refused_not_a_500(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    params = {**delivered("r-21610"), "MessageStatus": "undelivered", "ErrorCode": "21610"}
    del params["To"]
    caplog.set_level(logging.INFO)

    response = await post(webhooks, status_path(link_keys, "r-21610"), params, tokens[0])

    assert response.status_code == 400
    [warning] = check_clean(caplog)
    assert "To" in warning.getMessage() and "21610" in warning.getMessage()


async def test_keypad_1_without_the_called_number_is_handled(
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    tail: Tail,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = status_path(
        link_keys, "r-nocalled", path="/twilio/calls/gather", c="voice", t="reminder", v=voice_variables()
    )
    caplog.set_level(logging.INFO)

    response = await post(webhooks, path, {"CallSid": "CA" + "e" * 32, "Digits": "1"}, tokens[0])

    assert response.status_code == 200 and "<Say" in response.text
    await tail.wait_for(lambda: tail.of(ev.PromiseToPayRecorded) and outcomes_of(tail, "r-nocalled"))
    await tail.settle()
    assert tail.of(ev.ContactRequested) == []  # no number to send the payment link to
    check_clean(caplog)


def voice_variables() -> dict[str, str]:
    return {**VARIABLES, "company": "Example Bank", "callback_number": "+18005550199"}


CACHE_AND_CSP = ("Cache-Control", "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


async def test_twiml_pages_and_refusals_are_never_cached_framed_or_run(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str]
) -> None:
    call = {"CallSid": "CA" + "d" * 32, "To": phone(50), "From": "+15550009001", "AnsweredBy": "human"}
    voice_path = {
        route: status_path(link_keys, "r-twiml", path=route, c="voice", t="reminder", v=voice_variables())
        for route in ("/twilio/calls/answer", "/twilio/calls/gather")
    }
    signer = LinkSigner([SecretStr(key) for key in link_keys])
    token = signer.sign({"k": "unsubscribe", "d": "d-h", "e": ADDRESS, "r": "r-h"})
    async with httpx.AsyncClient(timeout=10) as client:
        answered = await post(webhooks, voice_path["/twilio/calls/answer"], call, tokens[0])
        gathered = await post(
            webhooks, voice_path["/twilio/calls/gather"], {**call, "Digits": "9"}, tokens[0]
        )
        inbound_params = {"MessageSid": "SM" + "d" * 32, "From": phone(51), "Body": "hello"}
        inbound = await post(webhooks, "/twilio/messages/inbound", inbound_params, tokens[0])
        page = await client.get(f"{webhooks.hooks.base}/email/unsubscribe", params={"token": token})
        forbidden = await post(webhooks, status_path(link_keys, "r-h"), delivered("r-h"), "not-the-token")

    for response in (answered, gathered, inbound):
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
        assert "<Response" in response.text
    assert "<Gather" in answered.text
    for response in (answered, gathered, inbound, page, forbidden):
        headers = response.headers
        assert all(name in headers for name in CACHE_AND_CSP), (response.request.url.path, headers)
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]  # its one-click form posts back


async def test_nothing_from_a_valid_callback_reaches_the_log_either(
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    tail: Tail,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = webhooks.hooks.base + status_path(link_keys, "r-clean")
    params = delivered("r-clean", to=NUMBER)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, data=params, headers=signed(tokens[0], url, params))
    assert response.status_code == 200
    await tail.wait_for(lambda: outcomes_of(tail, "r-clean"))
    check_clean(caplog, NUMBER, NUMBER[1:], "ctx=", params["MessageSid"])


@pytest.mark.parametrize(
    "target",
    ["/email/unsubscribe?token=%FF%FE%00", "/email/unsubscribe?token=\xff\xfe", "/email/unsubscribe?%%%=="],
    ids=["percent-encoded-garbage", "raw-0xff", "broken-percent-encoding"],
)
async def test_a_garbage_unsubscribe_link_is_refused_without_a_trace(
    webhooks: WebhooksApp, caplog: pytest.LogCaptureFixture, target: str
) -> None:
    caplog.set_level(logging.DEBUG)

    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = await raw(webhooks, request.encode("latin-1"))

    assert status(answer) in (400, 403), answer[:200]
    [_] = check_clean(caplog, "%FF", "\xff")
