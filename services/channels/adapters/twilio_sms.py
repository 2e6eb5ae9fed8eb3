"""SMS through Twilio's Messages resource: ``SmsSender`` over ``TwilioRest``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.vocab import OutcomeStatus
from services.channels.adapters.twilio_rest import TwilioRest, twilio_time
from services.channels.ports import ProviderStatus, SentSms, Sms, SmsReceipt
from services.messaging.sms import count_segments
from services.messaging.twilio import FINAL_MESSAGE_STATUSES, MESSAGE_STATUS

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class TwilioSms:
    provider = "twilio"

    def __init__(self, rest: TwilioRest) -> None:
        self._rest = rest

    async def send(self, sms: Sms) -> SmsReceipt:
        form = [
            ("To", sms.to),
            ("From", sms.from_),
            ("Body", sms.body),
            ("StatusCallback", sms.status_callback),
            ("StatusCallbackMethod", "POST"),
        ]
        created = await self._rest.create("Messages", form)
        return SmsReceipt(
            provider_ref=str(created["sid"]),
            status=MESSAGE_STATUS.get(str(created.get("status")), OutcomeStatus.SENT),
            segments=_segments(created.get("num_segments"), sms.body),
            **_price(created),
        )

    async def sent_to(self, to: str, since: date) -> list[SentSms]:
        # "DateSent>" is Twilio's "on or after" filter; a message not yet sent matches by creation time.
        found = await self._rest.list("Messages", {"To": to, "DateSent>": since.isoformat()})
        return [
            SentSms(
                provider_ref=str(item["sid"]),
                to=str(item.get("to", "")),
                from_=str(item.get("from", "")),
                body=str(item.get("body", "")),
                status=MESSAGE_STATUS.get(str(item.get("status")), OutcomeStatus.UNKNOWN),
                segments=_segments(item.get("num_segments"), str(item.get("body", ""))),
                created_at=twilio_time(item.get("date_created")) or datetime.min.replace(tzinfo=UTC),
                **_price(item),
            )
            for item in found
        ]

    async def status(self, provider_ref: str) -> ProviderStatus | None:
        found = await self._rest.fetch("Messages", provider_ref)
        if found is None:
            return None
        status = str(found.get("status"))
        final = MESSAGE_STATUS.get(status) if status in FINAL_MESSAGE_STATUSES else None
        error = found.get("error_code")
        return ProviderStatus(status, final, str(error) if error else None, **_price(found))

    async def aclose(self) -> None:
        await self._rest.aclose()


def _segments(reported: object, body: str) -> int:
    # Twilio's count is what it bills; it only lacks one on unusual answers.
    try:
        return int(str(reported))
    except ValueError:
        return count_segments(body)


def _price(message: dict[str, Any]) -> dict[str, Any]:
    """Twilio's charge for a message, once it knows it: ``price`` is null until the message is final, then
    a negative amount (a debit) in ``price_unit``. Anything else is taken as no charge reported."""
    unit = str(message.get("price_unit") or "").upper()
    try:
        price = Decimal(str(message.get("price")))
    except InvalidOperation:
        return {}
    if not price.is_finite() or not _CURRENCY.match(unit):
        return {}
    return {"price": abs(price), "price_unit": unit}
