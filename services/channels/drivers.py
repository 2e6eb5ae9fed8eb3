"""What each channel sends for an approval and how it finds a send again: rendering, the URLs and headers
that carry the request id and its signed context, and the lookup that reconciles an uncertain create.

The worker drives all three the same way; only these classes know what an SMS, an email or a call is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime, parseaddr
from typing import Any, Generic, Protocol, TypeVar

from schemas import events as ev
from schemas import ids
from schemas.callbacks import (
    BounceToken,
    CallbackContext,
    Route,
    UnsubscribeToken,
    bounce_address,
    callback_url,
    unsubscribe_url,
)
from schemas.vocab import Channel, OutcomeStatus
from services.channels.outcomes import SendResult
from services.channels.ports import (
    Call,
    Email,
    EmailSender,
    PlacedCall,
    ProviderStatus,
    SentSms,
    Sms,
    SmsSender,
    VoiceCaller,
)
from services.channels.settings import ChannelsSettings
from services.messaging import twilio
from services.messaging.links import LinkSigner
from services.messaging.templates import TemplateBook

# A lookup starts the day before the claim: the provider's clock and ours may disagree, and a claim made
# just after midnight UTC may have been created just before it.
LOOKUP_SLACK = timedelta(days=1)
# An outcome's cost has four decimal places; a provider may price to five.
COST_QUANTUM = Decimal("0.0001")


class CannotReconcile(Exception):
    """The provider offers no way to look a send up (SMTP): an uncertain send stays unknown."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered send, ready for the provider: where to, from whom, and what identifies it on a lookup."""

    destination: str
    sender: str
    digest: str
    message: Sms | Email | Call


class Driver(Protocol):
    channel: Channel
    provider: str

    def prepare(self, approval: ev.ContactApproved, now: datetime) -> Rendered:
        """Render the approval; raises ``RenderError`` if it cannot be (a permanent failure)."""
        ...

    async def send(self, prepared: Rendered) -> SendResult:
        """Hand it to the provider; raises the errors of ``services.channels.errors``."""
        ...

    async def find(self, prepared: Rendered, claimed_at: datetime, taken: set[str]) -> SendResult | None:
        """The send if the provider has it (not one of ``taken``), None if it certainly has not."""
        ...

    async def settle(self, provider_ref: str) -> SendResult | None:
        """The final status of a send whose callback did not come, asked of the provider; None while it is
        not final. Raises ``CannotReconcile`` when the provider cannot tell (no record, or no way to ask)."""
        ...

    async def aclose(self) -> None: ...


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def context(approval: ev.ContactApproved, **call: Any) -> CallbackContext:
    """What the webhooks service needs to turn a callback into events about this request."""
    return CallbackContext(
        request_id=approval.request_id,
        debtor_id=approval.debtor_id,
        account_id=approval.account_id,
        channel=approval.channel,
        strategy=approval.strategy,
        strategy_version=approval.strategy_version,
        arm=approval.arm,
        **call,
    )


class _Port(Protocol):
    provider: str

    async def aclose(self) -> None: ...


_PortT = TypeVar("_PortT", bound=_Port)


class _PortDriver(Generic[_PortT]):
    """What every driver holds (its provider's port, the templates, the link signer and the settings), the
    variables every template gets, and closing the port."""

    def __init__(
        self, port: _PortT, templates: TemplateBook, links: LinkSigner, settings: ChannelsSettings
    ) -> None:
        self.port = port
        self.provider = port.provider
        self.templates = templates
        self.links = links
        self.settings = settings

    def variables(self, approval: ev.ContactApproved) -> dict[str, str]:
        """The approval's variables and the platform's own (company, callback number)."""
        return {
            **approval.variables,
            "company": self.settings.company,
            "callback_number": self.settings.callback_number,
        }

    async def aclose(self) -> None:
        await self.port.aclose()


class SmsDriver(_PortDriver[SmsSender]):
    channel = Channel.SMS

    def prepare(self, approval: ev.ContactApproved, now: datetime) -> Rendered:
        variables = self.variables(approval)
        body = self.templates.render(Channel.SMS, approval.template, approval.language, variables).parts[
            "body"
        ]
        callback = callback_url(
            self.settings.webhooks_base_url,
            Route.MESSAGE_STATUS,
            approval.request_id,
            self.links.sign(context(approval).payload()),
        )
        sender = self.settings.sms_from
        return Rendered(
            approval.destination, sender, digest(body), Sms(approval.destination, sender, body, callback)
        )

    async def send(self, prepared: Rendered) -> SendResult:
        assert isinstance(prepared.message, Sms)
        receipt = await self.port.send(prepared.message)
        return self._result(receipt.provider_ref, receipt.segments, receipt.price, receipt.price_unit)

    async def find(self, prepared: Rendered, claimed_at: datetime, taken: set[str]) -> SendResult | None:
        candidates = await self.port.sent_to(prepared.destination, (claimed_at - LOOKUP_SLACK).date())
        found = match_message(candidates, prepared, taken)
        if found is None:
            return None
        return self._result(found.provider_ref, found.segments, found.price, found.price_unit)

    async def settle(self, provider_ref: str) -> SendResult | None:
        return asked(await self.port.status(provider_ref), provider_ref, "message", priced=False)

    def _result(self, provider_ref: str, segments: int, price: Decimal | None, unit: str) -> SendResult:
        """The provider's own segment count, and its charge when it reports one; until then (Twilio prices a
        message once it is final) the estimate of its segments times the configured price."""
        sent = SendResult(OutcomeStatus.SENT, False, provider_ref=provider_ref, segments=segments)
        if price is not None:
            return replace(sent, cost=price.quantize(COST_QUANTUM), cost_currency=unit)
        return replace(sent, cost=self.settings.sms_price_per_segment * segments)


def match_message(candidates: list[SentSms], prepared: Rendered, taken: set[str]) -> SentSms | None:
    """The message this claim created, if any: same sender, same text (the rendering is deterministic) and
    not already attributed to another request; the oldest such, the first create of the claim."""
    same = [
        c
        for c in candidates
        if c.from_ == prepared.sender and digest(c.body) == prepared.digest and c.provider_ref not in taken
    ]
    return min(same, key=lambda c: c.created_at) if same else None


class VoiceDriver(_PortDriver[VoiceCaller]):
    channel = Channel.VOICE

    def prepare(self, approval: ev.ContactApproved, now: datetime) -> Rendered:
        variables = self.variables(approval)
        # Render now, so a bad template fails here and not in front of the debtor; the webhooks service
        # renders the same files again when the call is answered.
        self.templates.render(Channel.VOICE, approval.template, approval.language, variables)
        token = self.links.sign(
            context(
                approval, template=approval.template, language=approval.language, variables=variables
            ).payload()
        )
        base = self.settings.webhooks_base_url
        call = Call(
            to=approval.destination,
            from_=self.settings.voice_from,
            answer_url=callback_url(base, Route.CALL_ANSWER, approval.request_id, token),
            status_callback=callback_url(base, Route.CALL_STATUS, approval.request_id, token),
            machine_detection=self.settings.machine_detection,
        )
        return Rendered(approval.destination, call.from_, digest(approval.destination), call)

    async def send(self, prepared: Rendered) -> SendResult:
        assert isinstance(prepared.message, Call)
        receipt = await self.port.call(prepared.message)
        return SendResult(OutcomeStatus.SENT, False, provider_ref=receipt.provider_ref)

    async def find(self, prepared: Rendered, claimed_at: datetime, taken: set[str]) -> SendResult | None:
        candidates = await self.port.placed_to(prepared.destination, (claimed_at - LOOKUP_SLACK).date())
        found = match_call(candidates, prepared, taken)
        return SendResult(OutcomeStatus.SENT, False, provider_ref=found.provider_ref) if found else None

    async def settle(self, provider_ref: str) -> SendResult | None:
        return asked(await self.port.status(provider_ref), provider_ref, "call", priced=True)


def asked(found: ProviderStatus | None, provider_ref: str, what: str, *, priced: bool) -> SendResult | None:
    """A lookup's answer as the request's final result: what the lost callback would have said, its cost
    included only when ``priced`` (a call's cost is on its final outcome; a message's was on its ``sent``)."""
    if found is None:
        raise CannotReconcile(f"the provider has no record of the {what}")
    if found.status is None:
        return None
    result = SendResult(
        found.status,
        True,
        provider_ref=provider_ref,
        error_code=found.error_code,
        failure=twilio.failure(found.error_code),
        detail=f"twilio status {found.provider_status} (asked: no callback came)",
        duration_seconds=found.duration_seconds,
    )
    if priced and found.price is not None:
        return replace(result, cost=found.price.quantize(COST_QUANTUM), cost_currency=found.price_unit)
    return result


def match_call(candidates: list[PlacedCall], prepared: Rendered, taken: set[str]) -> PlacedCall | None:
    """A call has no text to recognise: any call from our number to this one not attributed to another
    request counts as this claim's (when unsure, the call is assumed placed: never two calls)."""
    same = [c for c in candidates if c.from_ == prepared.sender and c.provider_ref not in taken]
    return min(same, key=lambda c: c.created_at) if same else None


class EmailDriver(_PortDriver[EmailSender]):
    channel = Channel.EMAIL

    def __init__(
        self, port: EmailSender, templates: TemplateBook, links: LinkSigner, settings: ChannelsSettings
    ) -> None:
        super().__init__(port, templates, links, settings)
        self.domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"

    def prepare(self, approval: ev.ContactApproved, now: datetime) -> Rendered:
        unsubscribe = self.unsubscribe_url(approval)
        variables = {**self.variables(approval), "unsubscribe_url": unsubscribe}
        parts = self.templates.render(Channel.EMAIL, approval.template, approval.language, variables).parts
        message = Email(
            to=approval.destination,
            from_=self.settings.mail_from,
            subject=parts["subject"],
            text=parts["text"],
            html=parts["html"],
            message_id=message_id(approval.request_id, self.domain),
            headers=(
                ("Date", format_datetime(now)),
                # RFC 8058 one-click unsubscribe; mail providers POST "List-Unsubscribe=One-Click" to it.
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ),
            bcc=(self.settings.archive_bcc,) if self.settings.archive_bcc else (),
            return_path=self.return_path(approval),
        )
        sender = parseaddr(self.settings.mail_from)[1]
        return Rendered(approval.destination, sender, digest(message.subject, message.text), message)

    def unsubscribe_url(self, approval: ev.ContactApproved) -> str:
        token = UnsubscribeToken(
            debtor_id=approval.debtor_id, address=approval.destination, request_id=approval.request_id
        )
        return unsubscribe_url(self.settings.webhooks_base_url, self.links.sign(token.payload()))

    def return_path(self, approval: ev.ContactApproved) -> str:
        """The VERP envelope sender naming this request, when the bank has a bounce domain."""
        if not self.settings.bounce_domain:
            return ""
        token = BounceToken(
            request_id=approval.request_id,
            debtor_id=approval.debtor_id,
            account_id=approval.account_id,
            strategy=approval.strategy,
            arm=approval.arm,
            recipient=self.links.fingerprint(approval.destination.lower()),
        )
        return bounce_address(self.links.sign(token.payload()), self.settings.bounce_domain)

    async def send(self, prepared: Rendered) -> SendResult:
        assert isinstance(prepared.message, Email)
        receipt = await self.port.send(prepared.message)
        detail = f"{len(receipt.refused)} additional recipient(s) refused" if receipt.refused else ""
        return SendResult(
            OutcomeStatus.SENT, True, provider_ref=receipt.provider_ref, detail=detail, cost=Decimal(0)
        )

    async def find(self, prepared: Rendered, claimed_at: datetime, taken: set[str]) -> SendResult | None:
        raise CannotReconcile("an SMTP relay cannot be asked whether it received a message")

    async def settle(self, provider_ref: str) -> SendResult | None:
        # Never reached: an email is final once the relay took it (a bounce, if any, comes on its own).
        raise CannotReconcile("an SMTP relay cannot be asked what became of a message")


def message_id(request_id: str, domain: str) -> str:
    """``<uuid@domain>`` derived from the request id: the same request always has the same Message-ID."""
    return f"<{ids.message_id_local_part(request_id)}@{domain}>"
