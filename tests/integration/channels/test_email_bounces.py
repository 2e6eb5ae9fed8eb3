"""Bounces on the real broker: the email worker sends through the SMTP sandbox with a VERP envelope sender,
the sandbox accepts the message, then sends its DSN to the webhooks' bounce receiver over SMTP, as a remote
mail server would. A 5.1.1 ends the request ``undelivered`` (final, the address no good); a 4.2.2 is counted
and changes nothing; a bounce with a forged token is refused at RCPT."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiosmtplib
import pytest
from pydantic import SecretStr

from schemas import events as ev
from schemas.callbacks import BounceToken, bounce_address
from schemas.vocab import Channel, FailureKind, OutcomeStatus
from services.core.clock import ManualClock
from services.core.settings import CommonSettings
from services.messaging.links import LinkSigner
from services.webhooks.app import WebhooksApp
from tests.channels_support import (
    START,
    Providers,
    approval,
    eventually,
    free_port,
    sandbox,
    webhooks_settings,
)
from tests.conftest import Principal
from tests.integration.channels.conftest import Workers
from tests.support import Tail, publish

DOMAIN = "bounce.bank.example"
GONE, FULL, FINE = "gone@example.net", "full@example.net", "fine@example.net"


@pytest.fixture
def bounce_port() -> int:
    return free_port()


@pytest.fixture
async def providers(tokens: list[str], clock: ManualClock, bounce_port: int) -> AsyncIterator[Providers]:
    """The sandboxes, sending their DSNs to the bounce receiver (the bounce domain's MX)."""
    async with sandbox(tokens, clock, smtp_bounce_port=bounce_port) as running:
        yield running


@pytest.fixture
async def webhooks(
    principal: Principal, tokens: list[str], link_keys: list[str], clock: ManualClock, bounce_port: int
) -> AsyncIterator[WebhooksApp]:
    config = webhooks_settings(free_port(), tokens, link_keys, bounce_port=bounce_port, bounce_domain=DOMAIN)
    app = WebhooksApp(principal("webhooks"), config, clock)
    await app.start()
    yield app
    await app.stop()


def outcomes(tail: Tail, request_id: str) -> list[ev.ContactOutcome]:
    return [o for o in tail.of(ev.ContactOutcome) if o.request_id == request_id]


def email(request_id: str, to: str) -> ev.ContactApproved:
    return approval(f"d-{request_id}", request_id, to, channel=Channel.EMAIL, template="final_notice")


def bounces(webhooks: WebhooksApp, result: str) -> float:
    value = webhooks.registry.get_sample_value("collections_webhooks_bounces_total", {"result": result})
    return value or 0.0


async def test_a_hard_bounce_ends_the_email_undelivered_and_a_soft_one_changes_nothing(
    settings: CommonSettings,
    providers: Providers,
    workers: Workers,
    webhooks: WebhooksApp,
    tail: Tail,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await providers.mail_faults(
        {
            GONE: {"code": 550, "stage": "bounce"},
            FULL: {"code": 452, "stage": "bounce", "message": "4.2.2 Mailbox full"},
        }
    )
    await workers.start(Channel.EMAIL, bounce_domain=DOMAIN)
    await publish(
        settings,
        [email("r-gone", GONE), email("r-full", FULL), email("r-fine", FINE)],
        time=START,
    )

    # The worker writes "sent" once the relay took the message, the receiver "undelivered" once the DSN
    # came: two producers, either may land first.
    await tail.wait_for(lambda: len(outcomes(tail, "r-gone")) == 2)
    await eventually(lambda: bounces(webhooks, "soft") == 1)

    mail = {m["rcpt_tos"][0]: m for m in await providers.mail()}
    assert set(mail) == {GONE, FULL, FINE}  # the relay took all three: the bounces came afterwards
    senders = [m["mail_from"] for m in mail.values()]
    assert all(s.startswith("bounces+") and s.endswith(f"@{DOMAIN}") for s in senders)
    assert len(set(senders)) == 3  # one per request
    assert not any("example.net" in s for s in senders)  # the token never carries the recipient
    sent, undelivered = sorted(outcomes(tail, "r-gone"), key=lambda o: o.status is OutcomeStatus.UNDELIVERED)
    assert (sent.status, sent.final) == (OutcomeStatus.SENT, True)
    assert (undelivered.status, undelivered.final) == (OutcomeStatus.UNDELIVERED, True)
    assert (undelivered.error_code, undelivered.failure) == ("5.1.1", FailureKind.UNREACHABLE_DESTINATION)
    assert (undelivered.debtor_id, undelivered.account_id) == ("d-r-gone", "acc-d-r-gone")
    assert (undelivered.strategy, undelivered.arm, undelivered.provider) == ("default", "champion", "smtp")
    await tail.settle()
    # The soft bounce and the clean delivery stay as the relay left them: sent.
    assert [(o.status, o.final) for o in outcomes(tail, "r-full")] == [(OutcomeStatus.SENT, True)]
    assert [(o.status, o.final) for o in outcomes(tail, "r-fine")] == [(OutcomeStatus.SENT, True)]
    assert (bounces(webhooks, "hard"), bounces(webhooks, "soft"), bounces(webhooks, "forged")) == (1, 1, 0)
    # Every service logged at INFO, the sandbox too: never an address, never a token.
    assert "bounce for request r-gone: hard 5.1.1" in caplog.text
    assert not any(address in caplog.text for address in (GONE, FULL, FINE))
    assert "bounces+" not in caplog.text


async def test_a_bounce_with_a_forged_token_is_refused_and_counted(webhooks: WebhooksApp, tail: Tail) -> None:
    forged = LinkSigner([SecretStr("not-the-bank-key" * 2)])
    token = BounceToken(request_id="r-any", debtor_id="d-any", account_id="acc-any")
    to = bounce_address(forged.sign(token.payload()), DOMAIN)
    dsn = b"Subject: Undelivered\r\nContent-Type: text/plain\r\n\r\nno\r\n"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=webhooks.bounce_port, timeout=10) as client:
            await client.sendmail("", [to], dsn)
    assert bounces(webhooks, "forged") == 1
    await tail.settle()
    assert outcomes(tail, "r-any") == []


async def test_a_bounce_of_the_archive_copy_leaves_the_debtor_s_email_sent(
    settings: CommonSettings, providers: Providers, workers: Workers, webhooks: WebhooksApp, tail: Tail
) -> None:
    # The compliance archive's copy shares the envelope, so its DSN comes to the same bounce address.
    archive = "archive@bank.example"
    await providers.mail_faults({archive: {"code": 550, "stage": "bounce"}})
    await workers.start(Channel.EMAIL, bounce_domain=DOMAIN, archive_bcc=archive)
    await publish(settings, [email("r-archived", FINE)], time=START)

    await eventually(lambda: bounces(webhooks, "other_recipient") == 1)
    await tail.settle()
    assert [(o.status, o.final) for o in outcomes(tail, "r-archived")] == [(OutcomeStatus.SENT, True)]
    assert bounces(webhooks, "hard") == 0
