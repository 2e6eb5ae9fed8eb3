"""Voice calls through Twilio's Calls resource: ``VoiceCaller`` over ``TwilioRest``, with answering-machine
detection so that a machine gets the limited-content voicemail after the beep."""

from __future__ import annotations

from datetime import UTC, date, datetime

from schemas.vocab import OutcomeStatus
from services.channels.adapters.twilio_rest import TwilioRest, twilio_time
from services.channels.ports import Call, CallReceipt, PlacedCall, ProviderStatus
from services.messaging.twilio import FINAL_CALL_STATUSES, call_outcome


class TwilioVoice:
    provider = "twilio"

    def __init__(self, rest: TwilioRest) -> None:
        self._rest = rest

    async def call(self, call: Call) -> CallReceipt:
        form = [
            ("To", call.to),
            ("From", call.from_),
            ("Url", call.answer_url),
            ("Method", "POST"),
            ("StatusCallback", call.status_callback),
            ("StatusCallbackMethod", "POST"),
        ]
        if call.machine_detection:
            # Wait for the greeting to end, so a voicemail is recorded from the beep on.
            form.append(("MachineDetection", "DetectMessageEnd"))
        created = await self._rest.create("Calls", form)
        return CallReceipt(provider_ref=str(created["sid"]), status=OutcomeStatus.SENT)

    async def placed_to(self, to: str, since: date) -> list[PlacedCall]:
        found = await self._rest.list("Calls", {"To": to, "StartTime>": since.isoformat()})
        return [
            PlacedCall(
                provider_ref=str(item["sid"]),
                to=str(item.get("to", "")),
                from_=str(item.get("from", "")),
                created_at=twilio_time(item.get("date_created")) or datetime.min.replace(tzinfo=UTC),
            )
            for item in found
        ]

    async def status(self, provider_ref: str) -> ProviderStatus | None:
        found = await self._rest.fetch("Calls", provider_ref)
        if found is None:
            return None
        status = str(found.get("status"))
        answered_by = found.get("answered_by")
        final = call_outcome(status, str(answered_by) if answered_by else None)
        try:
            duration = int(str(found.get("duration") or 0))
        except ValueError:
            duration = 0
        return ProviderStatus(
            status, final if status in FINAL_CALL_STATUSES else None, duration_seconds=duration
        )

    async def aclose(self) -> None:
        await self._rest.aclose()
