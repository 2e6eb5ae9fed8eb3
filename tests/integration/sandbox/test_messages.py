"""Messages over Twilio's REST protocol: create, fetch, list filters for reconciliation, segments, auth,
and the signed status callbacks that follow."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from twilio.request_validator import RequestValidator

from tests.integration.sandbox.conftest import (
    SENDER,
    START,
    START_RFC2822,
    MakeSandbox,
    Receiver,
    Sandbox,
    eventually,
)

DEBTOR = "+15551230000"


async def test_create_returns_twilio_fields(sandbox: Sandbox, receiver: Receiver) -> None:
    callback = receiver.url("/status?request_id=req-1")

    response = await sandbox.send_sms(DEBTOR, "Your statement is ready", StatusCallback=callback)

    assert response.status_code == 201
    message = response.json()
    sid = message["sid"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    account = sandbox.settings.account_sid
    assert message == {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": "Your statement is ready",
        "date_created": START_RFC2822,
        "date_sent": None,
        "date_updated": START_RFC2822,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": SENDER,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json",
            "feedback": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Feedback.json",
        },
        "to": DEBTOR,
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
    }
    [recorded] = await sandbox.ledger()
    assert recorded["request_id"] == "req-1"
    assert recorded["client_status"] == 201


async def test_callbacks_are_signed_and_in_order(sandbox: Sandbox, receiver: Receiver) -> None:
    response = await sandbox.send_sms(DEBTOR, StatusCallback=receiver.url("/status?request_id=req-2"))
    sid = response.json()["sid"]

    hits = await eventually(lambda: len(receiver.at("/status")) == 3 and receiver.at("/status"))

    assert [hit.params["MessageStatus"] for hit in hits] == ["queued", "sent", "delivered"]
    assert all(hit.signature_valid for hit in hits)
    assert all(hit.url.endswith("/status?request_id=req-2") for hit in hits)
    assert hits[-1].params == {
        "AccountSid": sandbox.settings.account_sid,
        "ApiVersion": "2010-04-01",
        "From": SENDER,
        "MessageSid": sid,
        "MessageStatus": "delivered",
        "SmsSid": sid,
        "SmsStatus": "delivered",
        "To": DEBTOR,
    }
    fetched = (await sandbox.api.get(f"{sandbox.account}/Messages/{sid}.json")).json()
    assert fetched["status"] == "delivered"
    assert fetched["date_sent"] == START_RFC2822
    assert fetched["price"] == "-0.00790"


async def test_fetch_unknown_message_is_twilio_404(sandbox: Sandbox) -> None:
    response = await sandbox.api.get(f"{sandbox.account}/Messages/SM{'0' * 32}.json")

    assert response.status_code == 404
    assert response.json()["code"] == 20404


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension-table characters cost two septets each
        ("€" * 81, 2),
        ("Balance due, reply STOP to opt out. 你好", 1),
        ("x" * 69 + "😀", 2),  # an emoji is two UTF-16 code units
    ],
)
async def test_segments(sandbox: Sandbox, body: str, segments: int) -> None:
    response = await sandbox.send_sms(DEBTOR, body)

    assert response.json()["num_segments"] == str(segments)


@pytest.mark.parametrize(("missing", "code"), [("To", 21604), ("From", 21603), ("Body", 21602)])
async def test_missing_parameter(sandbox: Sandbox, missing: str, code: int) -> None:
    data = {"To": DEBTOR, "From": SENDER, "Body": "hi"}
    del data[missing]

    response = await sandbox.api.post(f"{sandbox.account}/Messages.json", data=data)

    assert response.status_code == 400
    assert response.json() == {
        "code": code,
        "message": response.json()["message"],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": 400,
    }
    assert await sandbox.ledger() == []


@pytest.mark.parametrize("case", ["no-auth", "wrong-token", "wrong-account"])
async def test_bad_credentials_are_refused(sandbox: Sandbox, tokens: list[str], case: str) -> None:
    auth = {
        "no-auth": None,
        "wrong-token": (sandbox.settings.account_sid, "fake-not-a-token"),
        "wrong-account": ("AC" + "1" * 32, tokens[0]),
    }[case]
    data = {"To": DEBTOR, "From": SENDER, "Body": "hi"}

    response = await sandbox.control.post(f"{sandbox.account}/Messages.json", data=data, auth=auth)

    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authentication Error - invalid username",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert await sandbox.ledger() == []


async def test_token_rotation_accepts_both_and_signs_with_primary(
    sandbox: Sandbox, receiver: Receiver, tokens: list[str]
) -> None:
    for token in tokens:
        response = await sandbox.control.post(
            f"{sandbox.account}/Messages.json",
            data={"To": DEBTOR, "From": SENDER, "Body": "hi", "StatusCallback": receiver.url("/status")},
            auth=(sandbox.settings.account_sid, token),
        )
        assert response.status_code == 201

    hits = await eventually(lambda: len(receiver.at("/status")) == 6 and receiver.at("/status"))
    assert all(hit.signature_valid for hit in hits)
    secondary = RequestValidator(tokens[1])
    assert not secondary.validate(hits[0].url, hits[0].params, hits[0].headers["X-Twilio-Signature"])


async def test_identical_requests_are_never_deduplicated(sandbox: Sandbox) -> None:
    first = await sandbox.send_sms(DEBTOR, "same", StatusCallback="http://127.0.0.1:9/s?request_id=r")
    second = await sandbox.send_sms(DEBTOR, "same", StatusCallback="http://127.0.0.1:9/s?request_id=r")

    assert first.json()["sid"] != second.json()["sid"]
    assert [m["request_id"] for m in await sandbox.ledger()] == ["r", "r"]


async def test_list_filters_by_to_and_date_sent_for_reconciliation(sandbox: Sandbox) -> None:
    other = "+15551239999"
    await sandbox.send_sms(DEBTOR, "one")
    await sandbox.send_sms(DEBTOR, "two")
    await sandbox.send_sms(other, "elsewhere")
    await eventually(lambda: _all_delivered(sandbox))
    sandbox.clock.advance(timedelta(days=1))
    latest = (await sandbox.send_sms(DEBTOR, "three")).json()["sid"]
    await eventually(lambda: _all_delivered(sandbox))
    url = f"{sandbox.account}/Messages.json"

    async def bodies(**query: str) -> list[str]:
        response = await sandbox.api.get(url, params={"To": DEBTOR, **query})
        assert response.status_code == 200
        return [message["body"] for message in response.json()["messages"]]

    assert await bodies() == ["three", "two", "one"]  # newest first, as Twilio lists
    assert await bodies(DateSent="2026-03-02") == ["two", "one"]
    assert await bodies(**{"DateSent>": "2026-03-03"}) == ["three"]
    assert await bodies(**{"DateSent<": "2026-03-02"}) == ["two", "one"]
    assert await bodies(**{"DateSent>": (START + timedelta(hours=1)).isoformat()}) == ["three"]
    assert await bodies(**{"DateSent<": "2026-03-02T01:30:00Z"}) == ["two", "one"]
    first = (await sandbox.api.get(url, params={"To": DEBTOR, "PageSize": "1"})).json()
    assert [m["sid"] for m in first["messages"]] == [latest]
    assert first["page"] == 0
    assert first["page_size"] == 1
    seen, page = [latest], first
    while page["next_page_uri"]:
        page = (await sandbox.api.get(page["next_page_uri"])).json()
        seen += [m["sid"] for m in page["messages"]]
    assert len(set(seen)) == 3
    bad = await sandbox.api.get(url, params={"DateSent": "yesterday"})
    assert bad.status_code == 400


async def _all_delivered(sandbox: Sandbox) -> bool:
    return all(message["status"] == "delivered" for message in await sandbox.ledger())


async def test_duplicate_callbacks_repeat_the_idempotency_token(
    make_sandbox: MakeSandbox, receiver: Receiver
) -> None:
    sandbox = await make_sandbox(duplicate_callback_ratio=1.0)

    await sandbox.send_sms(DEBTOR, StatusCallback=receiver.url("/status"))

    hits = await eventually(lambda: len(receiver.at("/status")) == 6 and receiver.at("/status"))
    assert [hit.params["MessageStatus"] for hit in hits] == ["queued"] * 2 + ["sent"] * 2 + ["delivered"] * 2
    tokens = [hit.headers["I-Twilio-Idempotency-Token"] for hit in hits]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]
    assert all(hit.signature_valid for hit in hits)


async def test_out_of_order_callbacks(make_sandbox: MakeSandbox, receiver: Receiver) -> None:
    sandbox = await make_sandbox(reorder_callback_ratio=1.0)

    await sandbox.send_sms(DEBTOR, StatusCallback=receiver.url("/status"))

    hits = await eventually(lambda: len(receiver.at("/status")) == 3 and receiver.at("/status"))
    assert [hit.params["MessageStatus"] for hit in hits] == ["sent", "queued", "delivered"]
