"""The email worker against the local SMTP server: multipart mail over STARTTLS (the sandbox's certificate
verified) with a Message-ID derived from the request id and RFC 8058 one-click unsubscribe headers whose link
works through the webhooks service; 451 retried, 550 failed; a partial refusal."""

from __future__ import annotations

import httpx

from schemas import events as ev
from schemas.topics import DISPATCH
from schemas.topics import SENDER_LEDGER as LEDGER
from schemas.vocab import Channel, FailureKind, OutcomeStatus
from services.channels.drivers import message_id
from services.channels.ledger import LedgerEntry, LedgerState
from services.core.runtime import clients
from services.core.settings import CommonSettings
from tests.channels_support import START, Providers, approval
from tests.integration.channels.conftest import Workers
from tests.support import Tail, consume, publish

DEBTOR = "alex.doe@example.com"


def outcomes(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


def email(request_id: str, to: str = DEBTOR, **extra: object) -> ev.ContactApproved:
    return approval("d-mail", request_id, to, channel=Channel.EMAIL, template="final_notice", **extra)  # type: ignore[arg-type]


async def test_email_arrives_with_message_id_and_one_click_unsubscribe(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    await workers.start(Channel.EMAIL)
    await publish(settings, [email("r-mail")], time=START)
    await tail.wait_for(lambda: outcomes(tail, "r-mail"))

    [mail] = await providers.mail()
    headers = dict(mail["headers"])
    assert mail["tls"] is True
    assert mail["rcpt_tos"] == [DEBTOR] and mail["mail_from"] == "collections@bank.example"
    assert mail["message_id"] == message_id("r-mail", "bank.example")
    assert mail["subject"] == "Important: your account with Example Bank"
    unsubscribe = headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{workers.webhooks.hooks.base}/email/unsubscribe?token=")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # As a mail client reads it: the URI whole in angle brackets (RFC 2047 forbids encoding it), no line past
    # RFC 5322's 998 characters.
    raw = await providers.raw_mail(mail["id"])
    assert f"\r\nList-Unsubscribe: {unsubscribe}\r\n".encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert "12 monthly instalments of 200.00 USD" in mail["text"]
    assert (
        mail["html"].startswith("<!DOCTYPE html>") and unsubscribe[1:-1].replace("&", "&amp;") in mail["html"]
    )
    [sent] = outcomes(tail, "r-mail")
    assert (sent.status, sent.final, sent.provider, sent.provider_ref) == (
        OutcomeStatus.SENT,
        True,
        "smtp",
        mail["message_id"],
    )

    # What a mail provider does with the header: POST List-Unsubscribe=One-Click to the link.
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(unsubscribe[1:-1], data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    await tail.wait_for(lambda: tail.of(ev.ConsentChanged))
    [consent] = tail.of(ev.ConsentChanged)
    assert (consent.debtor_id, consent.address, consent.channel) == ("d-mail", DEBTOR, Channel.EMAIL)
    assert consent.source is ev.ConsentSource.EMAIL_UNSUBSCRIBE


async def test_a_451_is_retried_and_a_550_fails(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    later, gone = "busy@example.com", "gone@example.com"
    await providers.mail_faults({later: {"code": 451, "times": 1}, gone: {"code": 550}})
    app, _ = await workers.start(Channel.EMAIL)
    await publish(settings, [email("r-451", later), email("r-550", gone)], time=START)
    await tail.wait_for(lambda: outcomes(tail, "r-451") and outcomes(tail, "r-550"))

    assert [mail["rcpt_tos"] for mail in await providers.mail()] == [[later]]
    [retried] = outcomes(tail, "r-451")
    assert (retried.status, retried.final) == (OutcomeStatus.SENT, True)
    [failed] = outcomes(tail, "r-550")
    assert (failed.status, failed.final, failed.error_code) == (OutcomeStatus.FAILED, True, "550")
    assert failed.failure is FailureKind.UNREACHABLE_DESTINATION
    transient = {"channel": "email", "reason": "transient"}
    assert app.registry.get_sample_value("collections_channel_retries_total", transient) == 1


async def test_a_refused_archive_copy_does_not_fail_the_send(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    archive = "archive@bank.example"
    await providers.mail_faults({archive: {"code": 550}})
    await workers.start(Channel.EMAIL, archive_bcc=archive)
    await publish(settings, [email("r-partial")], time=START)
    await tail.wait_for(lambda: outcomes(tail, "r-partial"))

    [mail] = await providers.mail()
    assert mail["rcpt_tos"] == [DEBTOR]  # the relay took the debtor's copy and refused the archive's
    assert "Bcc" not in dict(mail["headers"])
    [sent] = outcomes(tail, "r-partial")
    assert (sent.status, sent.detail) == (OutcomeStatus.SENT, "1 additional recipient(s) refused")


async def test_an_email_claimed_but_never_confirmed_is_not_sent_again(
    settings: CommonSettings, providers: Providers, workers: Workers, tail: Tail
) -> None:
    # A worker died between its claim and the relay's answer: an SMTP relay cannot be asked whether it took
    # the message, so the next owner records the request as unknown instead of mailing the debtor twice.
    lost = email("r-lost")
    await publish(settings, [lost], time=START)
    [record] = await consume(settings, DISPATCH[Channel.EMAIL], lambda records: len(records) == 1)
    claim = LedgerEntry(
        request_id="r-lost",
        channel=Channel.EMAIL,
        state=LedgerState.CLAIMED,
        attempt=1,
        destination=DEBTOR,
        claimed_at=START,
        valid_until=lost.valid_until,
    )
    ledger = [(LEDGER, b"email:r-lost", claim.model_dump_json().encode(), [])]
    await produce_to(settings, ledger, partition=record.partition)

    await workers.start(Channel.EMAIL)
    await tail.wait_for(lambda: outcomes(tail, "r-lost"))

    [unknown] = outcomes(tail, "r-lost")
    assert (unknown.status, unknown.final) == (OutcomeStatus.UNKNOWN, True)
    assert await providers.mail() == []


async def produce_to(
    settings: CommonSettings, records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]], partition: int
) -> None:
    producer = clients.producer(settings, "tests")
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(
                settings.topic(topic), value, key=key, headers=headers, partition=partition
            )
    finally:
        await producer.stop()
