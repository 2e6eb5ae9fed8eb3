"""What the drivers decide without I/O: which message or call a lookup attributes to a claim, the ids and
URLs that carry the request, and the signed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from schemas.callbacks import Route, callback_url
from schemas.vocab import OutcomeStatus
from services.channels.drivers import (
    Rendered,
    digest,
    match_call,
    match_message,
    message_id,
)
from services.channels.ports import PlacedCall, SentSms, Sms
from services.messaging.links import LinkSigner

T0 = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
FROM, TO = "+15550009000", "+14152000001"


def sent(ref: str, body: str, at: datetime = T0, from_: str = FROM) -> SentSms:
    return SentSms(ref, TO, from_, body, OutcomeStatus.SENT, 1, at)


def prepared(body: str) -> Rendered:
    return Rendered(TO, FROM, digest(body), Sms(TO, FROM, body, "http://hooks/x"))


def test_a_lookup_takes_the_oldest_unattributed_message_with_the_same_text_and_sender() -> None:
    candidates = [
        sent("SM-newer", "Hi Alex", T0 + timedelta(seconds=5)),
        sent("SM-other-text", "Hi Sam"),
        sent("SM-other-sender", "Hi Alex", from_="+15550000000"),
        sent("SM-taken", "Hi Alex", T0 - timedelta(days=1)),
        sent("SM-first", "Hi Alex"),
    ]
    found = match_message(candidates, prepared("Hi Alex"), taken={"SM-taken"})
    assert found is not None and found.provider_ref == "SM-first"
    assert match_message(candidates, prepared("Hi Kim"), taken=set()) is None


def test_a_call_lookup_takes_any_unattributed_call_from_our_number() -> None:
    calls = [PlacedCall("CA-2", TO, FROM, T0 + timedelta(seconds=1)), PlacedCall("CA-1", TO, FROM, T0)]
    probe = Rendered(TO, FROM, "", Sms(TO, FROM, "", ""))
    assert match_call(calls, probe, taken=set()) == calls[1]
    assert match_call(calls, probe, taken={"CA-1", "CA-2"}) is None


def test_the_message_id_derives_from_the_request_id() -> None:
    first = message_id("r-1", "bank.example")
    assert first == message_id("r-1", "bank.example")
    assert first != message_id("r-2", "bank.example")
    assert first.startswith("<") and first.endswith("@bank.example>") and ":" not in first


def test_callback_urls_carry_the_request_id_and_its_signed_context() -> None:
    signer = LinkSigner([SecretStr("k1")])
    url = callback_url(
        "https://hooks.bank.example/", Route.MESSAGE_STATUS, "req:1", signer.sign({"r": "req:1"})
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "hooks.bank.example",
        "/twilio/messages/status",
    )
    query = parse_qs(parts.query)
    assert query["request_id"] == ["req:1"]
    assert signer.verify(query["ctx"][0]) == {"r": "req:1"}


def test_links_verify_with_any_configured_key_and_refuse_forgeries() -> None:
    old, new = SecretStr("old-key"), SecretStr("new-key")
    token = LinkSigner([old]).sign({"d": "d1", "e": "a@example.com"})
    assert LinkSigner([new, old]).verify(token) == {"d": "d1", "e": "a@example.com"}  # during a rotation
    assert LinkSigner([new]).verify(token) is None
    body, _, signature = token.partition(".")
    tampered = LinkSigner([old]).sign({"d": "d2", "e": "a@example.com"}).partition(".")[0]
    assert LinkSigner([old]).verify(f"{tampered}.{signature}") is None
    for garbage in ("", ".", "abc", f"{body}.", f"{body}.!!!", "x" * 9000):
        assert LinkSigner([old]).verify(garbage) is None
