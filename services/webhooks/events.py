"""The events a callback turns into, as pure functions with deterministic ids: a provider's retry, or the
same callback reaching two instances, yields the same ids, which consumers apply once.

Outcome ids follow ``schemas.ids.outcome_id`` with the callback or keypad as the observer.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from schemas import events as ev
from schemas import ids
from schemas.callbacks import CallbackContext
from schemas.vocab import Channel, OutcomeStatus, RequestKind
from services.messaging import twilio


def outcome(
    ctx: CallbackContext,
    status: OutcomeStatus,
    source: ids.Observer,
    now: datetime,
    *,
    final: bool,
    provider_ref: str = "",
    error_code: str | None = None,
    detail: str = "",
    duration: int = 0,
    cost: Decimal = Decimal(0),
    currency: str = "USD",
) -> ev.ContactOutcome:
    return ev.ContactOutcome(
        debtor_id=ctx.debtor_id,
        outcome_id=ids.outcome_id(ctx.request_id, status, source),
        request_id=ctx.request_id,
        account_id=ctx.account_id,
        channel=ctx.channel,
        status=status,
        final=final,
        provider="twilio",
        provider_ref=provider_ref,
        error_code=error_code or None,
        failure=twilio.failure(error_code),
        detail=detail,
        duration_seconds=duration,
        cost=cost,
        cost_currency=currency,
        strategy=ctx.strategy,
        arm=ctx.arm,
        occurred_at=now,
    )


def call_cost(duration_seconds: int, price_per_minute: Decimal) -> Decimal:
    """Calls are billed per started minute."""
    return -(-duration_seconds // 60) * price_per_minute


def consent(
    debtor_id: str,
    address: str,
    channel: Channel,
    change: ev.ConsentChange,
    source: ev.ConsentSource,
    now: datetime,
) -> ev.ConsentChanged:
    return ev.ConsentChanged(
        debtor_id=debtor_id, address=address, channel=channel, change=change, source=source, occurred_at=now
    )


def promise(ctx: CallbackContext, today: date, days: int, now: datetime) -> ev.PromiseToPayRecorded | None:
    """Keypad 1: a promise of the amount due, dated ``days`` from today. None without a usable amount."""
    try:
        amount = Decimal(ctx.variables["amount_due"])
        return ev.PromiseToPayRecorded(
            debtor_id=ctx.debtor_id,
            account_id=ctx.account_id,
            promise_id=ids.promise_id(ctx.request_id),
            currency=ctx.variables["currency"],
            amount=amount,
            promised_date=today + timedelta(days=days),
            source=ev.PromiseSource.VOICE_KEYPAD,
            recorded_at=now,
        )
    except (KeyError, InvalidOperation, ValueError):
        return None


def payment_link_request(
    ctx: CallbackContext, to: str, now: datetime, valid: timedelta
) -> ev.ContactRequested:
    """Keypad 1 also asks for the payment-link SMS: a reply, so the gatekeeper lets it through unless a
    hard stop applies. Its id derives from the call's, so a repeated keypress asks once."""
    return ev.ContactRequested(
        debtor_id=ctx.debtor_id,
        request_id=ids.reply_id("payment_link", ctx.request_id),
        account_id=ctx.account_id,
        channel=Channel.SMS,
        destination=to,
        template="payment_link",
        language=ctx.language,
        kind=RequestKind.REPLY,
        strategy=ctx.strategy or "voice_menu",
        strategy_version=ctx.strategy_version or "1",
        arm=ctx.arm or "none",
        step="keypad_1",
        variables={k: ctx.variables[k] for k in ("name", "payment_link") if k in ctx.variables},
        expires_at=now + valid,
        requested_at=now,
    )


# The FCC's revocation rule: the one text confirming an opt-out goes within five minutes of it, or not at all.
CONFIRMATION_WITHIN = timedelta(minutes=5)


def inbound_reply(
    template: str,
    debtor_id: str,
    account_id: str,
    to: str,
    language: str,
    message_ref: str,
    now: datetime,
    valid: timedelta,
) -> ev.ContactRequested:
    """A reply an inbound SMS asks for (``help``: the help text; ``opt_out_confirmation``: the one text that
    confirms a STOP), keyed to the inbound message."""
    return ev.ContactRequested(
        debtor_id=debtor_id,
        request_id=ids.reply_id(template, message_ref),
        account_id=account_id,
        channel=Channel.SMS,
        destination=to,
        template=template,
        language=language,
        kind=RequestKind.REPLY,
        strategy="inbound_sms",
        strategy_version="1",
        arm="none",
        step=template,
        expires_at=now + valid,
        requested_at=now,
    )
