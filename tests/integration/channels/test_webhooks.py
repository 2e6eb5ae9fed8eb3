"""The webhooks service over real HTTP and the real broker: signatures, token
rotation, duplicate and out-of-order callbacks, body limits, inbound SMS keywords, one-click unsubscribe, and
logs that never show numbers, addresses, bodies or query strings."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from schemas import events as ev
from schemas import ids
from schemas.ids import deterministic_id
from schemas.vocab import Channel, OutcomeStatus, RequestKind
from services.core.settings import CommonSettings
from services.messaging.links import LinkSigner
from services.webhooks.app import WebhooksApp
from tests.channels_support import START, Providers, eventually, phone, signed
from tests.support import Tail, publish

SID = "SM" + "a" * 32


def context(keys: list[str], request_id: str, debtor: str = "d1", **extra: Any) -> str:
    payload = {
        "r": request_id,
        "d": debtor,
        "a": f"acc-{debtor}",
        "c": "sms",
        "s": "default",
        "arm": "champion",
    }
    return LinkSigner([SecretStr(key) for key in keys]).sign({**payload, **extra})


def status_path(keys: list[str], request_id: str, path: str = "/twilio/messages/status", **extra: Any) -> str:
    return f"{path}?{urlencode({'request_id': request_id, 'ctx': context(keys, request_id, **extra)})}"


async def post(
    hooks: WebhooksApp,
    path: str,
    params: dict[str, str],
    token: str | None,
    *,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST as Twilio would; ``token`` None sends no signature, ``signed_url`` signs another URL."""
    url = hooks.hooks.base + path
    sent_headers = dict(headers or {})
    if token is not None:
        sent_headers.update(signed(token, signed_url or url, params))
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, data=params, headers=sent_headers)


def delivered(request_id: str, to: str = "+14152000001", **extra: str) -> dict[str, str]:
    return {"MessageSid": SID, "MessageStatus": "delivered", "To": to, "From": "+15550009000", **extra}


def outcomes_of(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


async def test_bad_or_missing_signature_gets_403_and_emits_nothing(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], tail: Tail
) -> None:
    path = status_path(link_keys, "r-forged")
    params = delivered("r-forged")
    other_keys = ["not-the-platform-key"]
    refused = [
        await post(webhooks, path, params, None),
        await post(webhooks, path, params, "fake-not-a-configured-token"),
        await post(webhooks, path, params, tokens[0], signed_url=webhooks.hooks.base + "/twilio/other"),
        await post(webhooks, path, params, None, headers={"X-Twilio-Signature": "AAAA"}),
        # A valid Twilio signature over a context the platform did not sign.
        await post(webhooks, status_path(other_keys, "r-forged"), params, tokens[0]),
        await post(webhooks, "/twilio/messages/inbound", {"From": phone(1), "Body": "STOP"}, "wrong"),
    ]
    assert [response.status_code for response in refused] == [403] * 6

    marker = status_path(link_keys, "r-marker")
    assert (await post(webhooks, marker, delivered("r-marker"), tokens[0])).status_code == 200
    await tail.wait_for(lambda: outcomes_of(tail, "r-marker"))
    await tail.settle()
    assert [o.request_id for o in tail.of(ev.ContactOutcome)] == ["r-marker"]
    assert tail.of(ev.ConsentChanged) == []
    rejected = webhooks.registry.get_sample_value
    assert rejected("collections_webhooks_rejected_signatures_total", _labels("message_status")) == 4
    assert (
        rejected("collections_webhooks_rejected_signatures_total", _labels("message_status", "context")) == 1
    )
    assert rejected("collections_webhooks_rejected_signatures_total", _labels("inbound")) == 1


def _labels(endpoint: str, reason: str = "twilio_signature") -> dict[str, str]:
    return {"endpoint": endpoint, "reason": reason}


async def test_either_token_is_accepted_during_a_rotation(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], tail: Tail
) -> None:
    old, new = tokens
    assert (await post(webhooks, status_path(link_keys, "r-old"), delivered("r-old"), old)).status_code == 200
    assert (await post(webhooks, status_path(link_keys, "r-new"), delivered("r-new"), new)).status_code == 200
    await tail.wait_for(lambda: outcomes_of(tail, "r-old") and outcomes_of(tail, "r-new"))
    [outcome] = outcomes_of(tail, "r-new")
    assert (outcome.status, outcome.final, outcome.provider_ref) == (OutcomeStatus.DELIVERED, True, SID)
    assert (outcome.debtor_id, outcome.account_id, outcome.channel) == ("d1", "acc-d1", Channel.SMS)


async def test_duplicates_are_ignored_and_status_only_moves_forward(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], tail: Tail
) -> None:
    path = status_path(link_keys, "r-dup")
    retry = {"I-Twilio-Idempotency-Token": "idem-1"}
    for params, headers in [
        (delivered("r-dup"), retry),
        (delivered("r-dup"), retry),  # Twilio retrying the same webhook
        ({**delivered("r-dup"), "MessageStatus": "sent"}, {}),  # overtaken by the delivery
        (delivered("r-dup"), {"I-Twilio-Idempotency-Token": "idem-2"}),  # a second delivery report
    ]:
        assert (await post(webhooks, path, params, tokens[0], headers=headers)).status_code == 200
    marker = status_path(link_keys, "r-after")
    await post(webhooks, marker, delivered("r-after"), tokens[0])
    await tail.wait_for(lambda: outcomes_of(tail, "r-after"))
    await tail.settle()

    assert [(o.status, o.final) for o in outcomes_of(tail, "r-dup")] == [(OutcomeStatus.DELIVERED, True)]
    duplicates = webhooks.registry.get_sample_value(
        "collections_webhooks_duplicates_total", {"endpoint": "message_status"}
    )
    assert duplicates == 3


async def test_an_undelivered_21610_callback_is_a_final_failure_and_an_opt_out(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str], tail: Tail
) -> None:
    params = {**delivered("r-stop", to=phone(3)), "MessageStatus": "undelivered", "ErrorCode": "21610"}
    assert (await post(webhooks, status_path(link_keys, "r-stop"), params, tokens[0])).status_code == 200
    await tail.wait_for(lambda: tail.of(ev.ConsentChanged) and outcomes_of(tail, "r-stop"))
    [outcome] = outcomes_of(tail, "r-stop")
    assert (outcome.status, outcome.final, outcome.error_code) == (OutcomeStatus.UNDELIVERED, True, "21610")
    [consent] = tail.of(ev.ConsentChanged)
    assert (consent.debtor_id, consent.address, consent.source) == ("d1", phone(3), ev.ConsentSource.PROVIDER)


async def test_an_oversized_body_is_refused(
    webhooks: WebhooksApp, tokens: list[str], link_keys: list[str]
) -> None:
    params = {**delivered("r-big"), "Padding": "x" * 70_000}
    response = await post(webhooks, status_path(link_keys, "r-big"), params, tokens[0])
    assert response.status_code == 413


def profile(debtor: str, number: str, language: str = "en-US") -> ev.DebtorProfileUpdated:
    return ev.DebtorProfileUpdated(
        debtor_id=debtor,
        contact_points=[
            ev.ContactPoint(type=ev.ContactPointType.PHONE, address=number, consents=[Channel.SMS])
        ],
        timezone="America/New_York",
        language=language,
        jurisdictions=["US"],
    )


@pytest.mark.parametrize(
    ("body", "change"),
    [
        ("STOP", ev.ConsentChange.OPT_OUT),
        ("  stop  ", ev.ConsentChange.OPT_OUT),
        ("Unsubscribe", ev.ConsentChange.OPT_OUT),
        ("pls stop texting me", ev.ConsentChange.OPT_OUT),
        ("Please don't text me again", ev.ConsentChange.OPT_OUT),
        (" 退订 ", ev.ConsentChange.OPT_OUT),
        ("td", ev.ConsentChange.OPT_OUT),
        ("请不要再发短信了", ev.ConsentChange.OPT_OUT),
        ("START", ev.ConsentChange.OPT_IN),
        ("unstop", ev.ConsentChange.OPT_IN),
    ],
)
async def test_inbound_keywords_change_consent_for_every_debtor_on_the_number(
    settings: CommonSettings,
    providers: Providers,
    webhooks: WebhooksApp,
    tail: Tail,
    body: str,
    change: ev.ConsentChange,
) -> None:
    shared = phone(10)
    await publish(settings, [profile("d-a", shared), profile("d-b", shared)], time=START)
    await providers.inbound(shared, body, webhooks.hooks.base + "/twilio/messages/inbound")

    await tail.wait_for(lambda: len(tail.of(ev.ConsentChanged)) == 2)
    consents = tail.of(ev.ConsentChanged)
    assert sorted(c.debtor_id for c in consents) == ["d-a", "d-b"]
    assert {(c.address, c.channel, c.change, c.source) for c in consents} == {
        (shared, Channel.SMS, change, ev.ConsentSource.SMS_REPLY)
    }


async def test_a_stop_asks_for_one_confirmation_within_five_minutes_and_a_start_for_none(
    settings: CommonSettings, providers: Providers, webhooks: WebhooksApp, tail: Tail
) -> None:
    shared = phone(17)
    await publish(settings, [profile("d-c1", shared), profile("d-c2", shared)], time=START)
    url = webhooks.hooks.base + "/twilio/messages/inbound"
    await providers.inbound(shared, "stop texting me", url)
    await providers.inbound(shared, "START", url)
    await tail.wait_for(lambda: len(tail.of(ev.ConsentChanged)) == 4)
    await tail.settle()
    [confirm] = tail.of(ev.ContactRequested)  # one for the message, though two debtors share the number
    assert (confirm.template, confirm.kind, confirm.channel, confirm.destination) == (
        "opt_out_confirmation",
        RequestKind.REPLY,
        Channel.SMS,
        shared,
    )
    assert confirm.expires_at is not None
    assert confirm.expires_at - confirm.requested_at == timedelta(minutes=5)


async def test_a_stop_and_a_start_without_message_ids_are_two_changes(
    settings: CommonSettings, webhooks: WebhooksApp, tokens: list[str], tail: Tail
) -> None:
    number = phone(16)
    await publish(settings, [profile("d-nosid", number)], time=START)
    await eventually(lambda: webhooks.directory.debtors(number) == ["d-nosid"])
    path = "/twilio/messages/inbound"
    for body, retry in [("STOP", "idem-stop"), ("START", "idem-start")]:
        params = {"From": number, "Body": body}
        headers = {"I-Twilio-Idempotency-Token": retry}
        assert (await post(webhooks, path, params, tokens[0], headers=headers)).status_code == 200

    await tail.wait_for(lambda: len(tail.of(ev.ConsentChanged)) == 2)
    consents = [e for e in tail.events if isinstance(e.event, ev.ConsentChanged)]
    assert [e.event.change for e in consents] == [ev.ConsentChange.OPT_OUT, ev.ConsentChange.OPT_IN]
    assert consents[0].id != consents[1].id
    # The same message retried by the provider names the same change.
    assert consents[0].id == ids.inbound_consent_id("d-nosid", None, "opt_out", number, "idem-stop")


async def test_help_asks_for_the_help_reply_and_other_texts_change_nothing(
    settings: CommonSettings, providers: Providers, webhooks: WebhooksApp, tail: Tail
) -> None:
    number, stranger = phone(11), phone(12)
    overdue = ev.AccountOverdue(
        debtor_id="d-zh",
        account_id="acc-zh",
        product="card",
        currency="CNY",
        amount_due="300.00",  # type: ignore[arg-type]
        total_outstanding="3000.00",  # type: ignore[arg-type]
        days_past_due=5,
        due_date=START.date(),
        as_of=START,
    )
    await publish(settings, [profile("d-zh", number, "zh-CN"), overdue], time=START)
    url = webhooks.hooks.base + "/twilio/messages/inbound"
    await providers.inbound(number, "When is my payment due?", url)
    await providers.inbound(stranger, "STOP", url)
    result = await providers.inbound(number, "help", url)

    await tail.wait_for(lambda: tail.of(ev.ContactRequested))
    await tail.settle()
    [reply] = tail.of(ev.ContactRequested)
    assert reply.request_id == deterministic_id("reply", "help", result["message_sid"])
    assert (reply.debtor_id, reply.account_id, reply.destination) == ("d-zh", "acc-zh", number)
    assert (reply.channel, reply.template, reply.language, reply.kind) == (
        Channel.SMS,
        "help",
        "zh-CN",
        RequestKind.REPLY,
    )
    assert tail.of(ev.ConsentChanged) == []  # the stranger matches no debtor; free text is not a keyword
    assert webhooks.registry.get_sample_value("collections_webhooks_unmatched_inbound_total") == 1


def unsubscribe_url(webhooks: WebhooksApp, keys: list[str], token: str | None = None) -> str:
    if token is None:
        signer = LinkSigner([SecretStr(key) for key in keys])
        token = signer.sign({"k": "unsubscribe", "d": "d-mail", "e": "alex@example.com", "r": "r-mail"})
    return f"{webhooks.hooks.base}/email/unsubscribe?{urlencode({'token': token})}"


async def test_one_click_unsubscribe(webhooks: WebhooksApp, link_keys: list[str], tail: Tail) -> None:
    url = unsubscribe_url(webhooks, link_keys)
    forged = unsubscribe_url(webhooks, ["someone-else"])
    one_click = {"List-Unsubscribe": "One-Click"}
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(url)
        assert page.status_code == 200 and 'name="List-Unsubscribe" value="One-Click"' in page.text
        assert "a***@example.com" in page.text
        assert (await client.get(forged)).status_code == 403
        assert (await client.post(forged, data=one_click)).status_code == 403
        assert (await client.post(url, data={"something": "else"})).status_code == 400
        await tail.settle()
        assert tail.of(ev.ConsentChanged) == []  # neither a GET (link scanners) nor a bad POST unsubscribes
        done = await client.post(url, data=one_click)

    assert done.status_code == 200
    await tail.wait_for(lambda: tail.of(ev.ConsentChanged))
    [consent] = tail.of(ev.ConsentChanged)
    assert (consent.debtor_id, consent.address, consent.channel) == (
        "d-mail",
        "alex@example.com",
        Channel.EMAIL,
    )
    assert (consent.change, consent.source) == (ev.ConsentChange.OPT_OUT, ev.ConsentSource.EMAIL_UNSUBSCRIBE)


async def test_logs_show_no_numbers_addresses_bodies_or_query_strings(
    settings: CommonSettings,
    providers: Providers,
    webhooks: WebhooksApp,
    tokens: list[str],
    link_keys: list[str],
    tail: Tail,
    caplog: pytest.LogCaptureFixture,
) -> None:
    number = phone(13)
    await publish(settings, [profile("d-log", number)], time=START)
    caplog.set_level(logging.INFO)
    await providers.inbound(number, "STOP sending me these", webhooks.hooks.base + "/twilio/messages/inbound")
    path = status_path(link_keys, "r-log")
    await post(webhooks, path, delivered("r-log", to=number), tokens[0])
    await post(webhooks, path, delivered("r-log", to=number), "wrong-token")
    async with httpx.AsyncClient(timeout=10) as client:
        await client.post(unsubscribe_url(webhooks, link_keys), data={"List-Unsubscribe": "One-Click"})
    await tail.wait_for(lambda: len(tail.of(ev.ConsentChanged)) == 2 and outcomes_of(tail, "r-log"))

    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("services.webhooks", "services.core", "aiohttp"))
    )
    assert "***" + number[-4:] in logged  # masked numbers are there to follow a contact ...
    for secret in (number, number[1:], "alex@example.com", "STOP sending me these", "ctx=", "token=", "?"):
        assert secret not in logged  # ... never the number, the address, the body or a query string


async def test_a_profile_change_moves_the_number(
    settings: CommonSettings, providers: Providers, webhooks: WebhooksApp, tail: Tail
) -> None:
    old, new = phone(14), phone(15)
    await publish(settings, [profile("d-moved", old)], time=START)
    await publish(settings, [profile("d-moved", new)], time=START.replace(minute=5))
    await eventually(lambda: webhooks.directory.debtors(new) == ["d-moved"])
    assert webhooks.directory.debtors(old) == []
    # An older snapshot arriving late does not move the number back.
    await publish(settings, [profile("d-moved", old)], time=START.replace(minute=1))
    await providers.inbound(new, "STOP", webhooks.hooks.base + "/twilio/messages/inbound")
    await tail.wait_for(lambda: tail.of(ev.ConsentChanged))
    assert webhooks.directory.debtors(old) == []
