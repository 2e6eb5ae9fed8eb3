"""Bounces without a network: hand-written RFC 3464 reports judged hard or soft, mail that is no DSN, the VERP
address and its token, and the receiver's answers (a forged token refused at RCPT, a hard bounce published
as the request's final ``undelivered`` before the 250, nothing published for a soft one)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr, ValidationError

from schemas import events as ev
from schemas import ids
from schemas.callbacks import BounceToken, UnsubscribeToken, bounce_address, bounce_token
from schemas.vocab import Channel, FailureKind, OutcomeStatus
from services.core.clock import ManualClock
from services.messaging.links import LinkSigner
from services.webhooks.bounces import BounceReceiver
from services.webhooks.dsn import Verdict, judge, parse
from services.webhooks.metrics import WebhookMetrics
from services.webhooks.settings import WebhooksSettings

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
DOMAIN = "bounce.bank.example"
SIGNER = LinkSigner([SecretStr("k" * 32)])


def report(action: str, status: str, *, diagnostic: str) -> bytes:
    """A DSN as Postfix writes one: explanation, delivery-status, the original headers."""
    text = f"""\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: bounces+TOKEN@bounce.bank.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B0UND"

This is a MIME-encapsulated message.

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4Fv1kq0sYzz
Arrival-Date: Wed, 10 Jun 2026 15:00:01 +0000 (UTC)

Final-Recipient: rfc822; alex.doe@example.net
Original-Recipient: rfc822;alex.doe@example.net
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.net
Diagnostic-Code: smtp; {diagnostic}

--B0UND
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Example Bank <collections@bank.example>
To: alex.doe@example.net
Message-ID: <6f1c3b52@bank.example>

--B0UND--
"""
    return text.replace("\n", "\r\n").encode()


HARD = report("failed", "5.1.1", diagnostic="550 5.1.1 <alex.doe@example.net>: Recipient address rejected")
SOFT = report("delayed", "4.2.2", diagnostic="452 4.2.2 <alex.doe@example.net>: Mailbox full")
OUT_OF_OFFICE = (
    b"From: alex.doe@example.net\r\nTo: bounces+TOKEN@bounce.bank.example\r\nSubject: Out of office\r\n"
    b"Auto-Submitted: auto-replied\r\nContent-Type: text/plain\r\n\r\nI am away until Monday.\r\n"
)


def test_a_5_1_1_report_is_a_hard_bounce_of_an_address_that_does_not_exist() -> None:
    [recipient] = parse(HARD) or []
    assert (recipient.action, recipient.status) == ("failed", "5.1.1")
    bounce = judge(HARD)
    assert (bounce.verdict, bounce.status) == (Verdict.HARD, "5.1.1")
    assert bounce.failure is FailureKind.UNREACHABLE_DESTINATION


def test_a_permanent_refusal_of_the_message_is_hard_but_not_a_dead_address() -> None:
    bounce = judge(report("failed", "5.7.1", diagnostic="554 5.7.1 Message rejected as spam"))
    assert bounce.verdict is Verdict.HARD
    assert bounce.failure is FailureKind.REJECTED


def test_a_4_2_2_report_is_soft() -> None:
    bounce = judge(SOFT)
    assert (bounce.verdict, bounce.status, bounce.failure) == (Verdict.SOFT, "4.2.2", None)


def test_a_delivered_report_is_no_failure() -> None:
    assert judge(report("delivered", "2.0.0", diagnostic="250 2.0.0 Ok")).verdict is Verdict.NO_FAILURE


@pytest.mark.parametrize(
    "raw",
    [
        OUT_OF_OFFICE,
        b"",
        # A report of another type (a feedback report, RFC 5965) is not a DSN.
        HARD.replace(b"report-type=delivery-status", b"report-type=feedback-report"),
        # A delivery-status part without any recipient block.
        HARD.split(b"Final-Recipient")[0] + b"\r\n--B0UND--\r\n",
    ],
    ids=["out-of-office", "empty", "feedback-report", "no-recipient"],
)
def test_mail_that_is_no_dsn_is_not_judged_a_bounce(raw: bytes) -> None:
    assert parse(raw) is None
    assert judge(raw).verdict is Verdict.NOT_DSN


TOKEN = BounceToken(request_id="r-1", debtor_id="d1", account_id="acc-1", strategy="default", arm="champion")


def test_the_bounce_address_names_the_request_and_never_the_recipient() -> None:
    address = bounce_address(SIGNER.sign(TOKEN.payload()), DOMAIN)
    local, _, domain = address.rpartition("@")
    assert domain == DOMAIN and local.startswith("bounces+")
    assert "example.net" not in address and "@" not in local
    raw = bounce_token(f"{local}@{DOMAIN.upper()}", DOMAIN)  # a domain is case-blind, a local part is not
    assert BounceToken.from_payload(SIGNER.verify(raw or "")) == TOKEN
    assert bounce_token(address.replace(DOMAIN, "elsewhere.example"), DOMAIN) is None
    assert bounce_token(f"postmaster@{DOMAIN}", DOMAIN) is None


class Published:
    def __init__(self) -> None:
        self.events: list[BaseModel] = []

    async def __call__(self, events: list[tuple[BaseModel, str]]) -> None:
        self.events.extend(event for event, _ in events)


def receiver() -> tuple[BounceReceiver, Published, CollectorRegistry]:
    registry = CollectorRegistry()
    published = Published()
    return (
        BounceReceiver(DOMAIN, SIGNER, published, ManualClock(NOW), WebhookMetrics(registry)),
        published,
        registry,
    )


def counted(registry: CollectorRegistry, result: str) -> float:
    return registry.get_sample_value("collections_webhooks_bounces_total", {"result": result}) or 0.0


async def deliver(handler: BounceReceiver, to: str, raw: bytes) -> tuple[str, str | None]:
    envelope: Any = SimpleNamespace(rcpt_tos=[], original_content=raw)
    rcpt = await handler.handle_RCPT(None, None, envelope, to, [])  # type: ignore[arg-type]
    if not rcpt.startswith("250"):
        return rcpt, None
    return rcpt, await handler.handle_DATA(None, None, envelope)  # type: ignore[arg-type]


async def test_a_hard_bounce_ends_the_request_undelivered_before_the_sender_gets_its_250() -> None:
    handler, published, registry = receiver()
    to = bounce_address(SIGNER.sign(TOKEN.payload()), DOMAIN)
    assert await deliver(handler, to, HARD) == ("250 OK", "250 OK")
    [outcome] = published.events
    assert isinstance(outcome, ev.ContactOutcome)
    assert (outcome.request_id, outcome.debtor_id, outcome.account_id) == ("r-1", "d1", "acc-1")
    assert (outcome.channel, outcome.status, outcome.final) == (
        Channel.EMAIL,
        OutcomeStatus.UNDELIVERED,
        True,
    )
    assert (outcome.error_code, outcome.failure) == ("5.1.1", FailureKind.UNREACHABLE_DESTINATION)
    assert (outcome.strategy, outcome.arm, outcome.occurred_at) == ("default", "champion", NOW)
    assert outcome.outcome_id == ids.outcome_id("r-1", OutcomeStatus.UNDELIVERED, ids.Observer.BOUNCE)
    assert "example.net" not in outcome.detail  # the diagnostic quotes the address: never copied
    assert counted(registry, "hard") == 1


async def test_a_soft_bounce_and_an_auto_reply_are_counted_and_change_nothing() -> None:
    handler, published, registry = receiver()
    to = bounce_address(SIGNER.sign(TOKEN.payload()), DOMAIN)
    assert await deliver(handler, to, SOFT) == ("250 OK", "250 OK")
    assert await deliver(handler, to, OUT_OF_OFFICE) == ("250 OK", "250 OK")
    assert published.events == []
    assert (counted(registry, "soft"), counted(registry, "not_dsn")) == (1, 1)


@pytest.mark.parametrize(
    "to",
    [
        f"bounces+{SIGNER.sign(TOKEN.payload())[:-2]}xx@{DOMAIN}",  # tampered signature
        bounce_address(LinkSigner([SecretStr("z" * 32)]).sign(TOKEN.payload()), DOMAIN),  # another key
        # A genuine token of another kind (an unsubscribe link's) does not pass for a bounce token.
        bounce_address(
            SIGNER.sign(UnsubscribeToken(debtor_id="d1", address="a@b.example", request_id="r-1").payload()),
            DOMAIN,
        ),
        f"bounces@{DOMAIN}",
        f"bounces+{SIGNER.sign(TOKEN.payload())}@elsewhere.example",
    ],
    ids=["tampered", "other-key", "other-kind", "no-token", "other-domain"],
)
async def test_a_forged_bounce_is_refused_at_rcpt_and_counted(to: str) -> None:
    handler, published, registry = receiver()
    rcpt, data = await deliver(handler, to, HARD)
    assert rcpt.startswith("550 5.1.1") and data is None
    assert published.events == []
    assert counted(registry, "forged") == 1


async def test_a_bounce_the_broker_did_not_take_is_refused_for_now_so_the_sender_retries() -> None:
    handler, _, registry = receiver()

    async def down(events: list[tuple[BaseModel, str]]) -> None:
        raise ConnectionError("broker down")

    handler.publish = down
    to = bounce_address(SIGNER.sign(TOKEN.payload()), DOMAIN)
    rcpt, data = await deliver(handler, to, HARD)
    assert rcpt == "250 OK" and data is not None and data.startswith("451 4.")
    assert counted(registry, "hard") == 0


def test_the_receiver_needs_both_its_port_and_its_domain() -> None:
    base = {
        "public_base_url": "http://127.0.0.1:8080",
        "twilio_auth_tokens": "t" * 32,
        "link_signing_keys": "k" * 32,
    }
    assert WebhooksSettings(**base, bounce_port=2526, bounce_domain=DOMAIN).bounce_domain == DOMAIN
    assert WebhooksSettings(**base).bounce_port is None
    with pytest.raises(ValidationError, match="go together"):
        WebhooksSettings(**base, bounce_port=2526)
    with pytest.raises(ValidationError):
        WebhooksSettings(**base, bounce_port=2526, bounce_domain="not a domain")


async def test_a_bounce_of_another_recipient_of_the_message_changes_nothing_for_the_request() -> None:
    # The token fingerprints the debtor's address; the message also went to an archive copy, same envelope.
    handler, published, registry = receiver()
    token = TOKEN.model_copy(update={"recipient": SIGNER.fingerprint("alex.doe@example.net")})
    to = bounce_address(SIGNER.sign(token.payload()), DOMAIN)
    archive = HARD.replace(b"alex.doe@example.net", b"archive@bank.example")
    assert await deliver(handler, to, archive) == ("250 OK", "250 OK")
    assert published.events == []
    assert counted(registry, "other_recipient") == 1
    # The debtor's own bounce (the address as the remote server spells it) still counts.
    assert await deliver(handler, to, HARD.replace(b"alex.doe@", b"Alex.Doe@")) == ("250 OK", "250 OK")
    [outcome] = published.events
    assert isinstance(outcome, ev.ContactOutcome) and outcome.status is OutcomeStatus.UNDELIVERED


def test_a_fingerprint_names_an_address_without_showing_it_and_survives_a_key_rotation() -> None:
    fingerprint = SIGNER.fingerprint("alex.doe@example.net")
    assert "alex" not in fingerprint and len(fingerprint) == 12
    assert fingerprint != SIGNER.fingerprint("other@example.net")
    rotated = LinkSigner([SecretStr("n" * 32), SecretStr("k" * 32)])  # a new key signs, the old one verifies
    assert fingerprint in rotated.fingerprints("alex.doe@example.net")
