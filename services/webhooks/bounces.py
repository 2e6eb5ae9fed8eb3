"""The bounce receiver: an SMTP server (aiosmtpd) that the bank's bounce domain points its MX at. Every email
the platform sends has the envelope sender ``bounces+<signed request token>@<bounce domain>``; a mail server
that cannot deliver it sends its DSN there.

It runs inside the webhooks service, as a second listener beside the HTTP one: the webhooks are already the
platform's inbound edge for providers' reports, hold the link signing keys that verify the token, and
publish outcomes through their producer; a DSN is one more provider report, taken the same way (verified
before anything is read, events acknowledged by Kafka before the sender gets its 250, so a failure is a
4xx the sending server retries).

A recipient without a valid token is refused at RCPT (550) and counted as forged. A hard bounce (5.x.x)
ends the request ``undelivered`` (final), with a failure that marks the address unusable when the status
says the address is no good; a soft one (4.x.x) is counted and changes nothing. Logs show request ids and
status codes, never addresses or tokens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiosmtpd.smtp import SMTP
from pydantic import BaseModel

from schemas import events as ev
from schemas import ids
from schemas.callbacks import BounceToken, bounce_token
from schemas.vocab import Channel, OutcomeStatus
from services.core.clock import Clock
from services.messaging.links import LinkSigner
from services.webhooks.dsn import Bounce, Verdict, judge
from services.webhooks.metrics import WebhookMetrics

log = logging.getLogger(__name__)

Publish = Callable[[list[tuple[BaseModel, str]]], Awaitable[None]]
# A DSN carries the original message's headers, often the whole message: bounded like any inbound mail.
MAX_DSN_BYTES = 10 * 1024 * 1024


def bounce_outcome(token: BounceToken, bounce: Bounce, now: datetime) -> ev.ContactOutcome:
    """A hard bounce as the request's final outcome; a second DSN for the same request has the same id."""
    return ev.ContactOutcome(
        debtor_id=token.debtor_id,
        outcome_id=ids.outcome_id(token.request_id, OutcomeStatus.UNDELIVERED, ids.Observer.BOUNCE),
        request_id=token.request_id,
        account_id=token.account_id,
        channel=Channel.EMAIL,
        status=OutcomeStatus.UNDELIVERED,
        final=True,
        provider="smtp",
        error_code=bounce.status,
        failure=bounce.failure,
        detail=f"bounced: status {bounce.status}",
        strategy=token.strategy,
        arm=token.arm,
        occurred_at=now,
    )


class BounceReceiver:
    """The aiosmtpd handler: RCPT checks the token, DATA judges the DSN and publishes what it says."""

    def __init__(
        self, domain: str, links: LinkSigner, publish: Publish, clock: Clock, metrics: WebhookMetrics
    ) -> None:
        self.domain = domain
        self.links = links
        self.publish = publish
        self.clock = clock
        self.metrics = metrics

    def token(self, address: str) -> BounceToken | None:
        raw = bounce_token(address, self.domain)
        return None if raw is None else BounceToken.from_payload(self.links.verify(raw))

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.token(address) is None:
            self.metrics.bounces.labels("forged").inc()
            log.warning("bounce refused: the recipient is not a bounce address with a valid token")
            return "550 5.1.1 No such bounce address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        judged = [
            (token, judge(raw, self._recipient_of(token)))
            for token in (self.token(a) for a in envelope.rcpt_tos)
            if token is not None
        ]
        now = self.clock.now()
        outcomes = [bounce_outcome(t, b, now) for t, b in judged if b.verdict is Verdict.HARD]
        if outcomes:
            try:
                await self.publish([(o, o.outcome_id) for o in outcomes])
            except Exception as exc:
                # The sending server keeps the DSN and tries again. Not the text: it may quote the event.
                log.error("bounce not recorded, the sender will retry: %s", type(exc).__name__)
                return "451 4.3.0 Bounce not recorded, try again later"
        for token, bounce in judged:
            self.metrics.bounces.labels(bounce.verdict.value).inc()
            log.info("bounce for request %s: %s %s", token.request_id, bounce.verdict.value, bounce.status)
        return "250 OK"

    def _recipient_of(self, token: BounceToken) -> Callable[[str], bool] | None:
        """Whether a DSN's recipient is the one the token's email went to (the message may also have gone to
        an archive copy, in the same envelope); a token without a fingerprint takes every recipient."""
        if not token.recipient:
            return None
        return lambda address: token.recipient in self.links.fingerprints(address)


async def start_bounce_server(receiver: BounceReceiver, host: str, port: int) -> asyncio.Server:
    """Listen on the running loop, so that the handler publishes through the service's own producer."""
    # aiosmtpd logs every command line at INFO: the addresses, tokens included.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            receiver,
            hostname=receiver.domain,
            ident="collections-outreach bounce receiver",
            data_size_limit=MAX_DSN_BYTES,
            enable_SMTPUTF8=True,
        ),
        host,
        port,
    )
