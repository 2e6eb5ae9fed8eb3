"""One debtor's whole story from the event log, in time order: what an agent or a compliance officer reads
when the debtor calls or a regulator asks. Phone numbers and addresses are masked; amounts are shown."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas import events as ev
from services.core.codec import Envelope
from services.core.masking import mask_address, mask_phone

# Events published at the same instant read best in the order the pipeline produces them.
_ORDER: dict[type[BaseModel], int] = {
    ev.DebtorProfileUpdated: 0,
    ev.AccountOverdue: 1,
    ev.AccountStatusChanged: 1,
    ev.PaymentPosted: 1,
    ev.PaymentReversed: 1,
    ev.PromiseToPayRecorded: 2,
    ev.ContactRequested: 3,
    ev.ContactCancelled: 3,
    ev.ComplianceDecision: 4,
    ev.ContactApproved: 5,
    ev.ContactOutcome: 6,
    ev.ConsentChanged: 7,
    ev.WrongPartyReported: 7,
    ev.EscalationRaised: 8,
}
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class Entry(BaseModel):
    """One line of the story: when it was published, what kind of event, and what it says (masked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    kind: str
    text: str

    def line(self) -> str:
        return f"{self.at.isoformat().replace('+00:00', 'Z')}  {self.kind:<10} {self.text}"


def history(envelopes: Iterable[Envelope[BaseModel]], debtor_id: str) -> list[Entry]:
    """Every event about ``debtor_id`` (duplicates dropped), oldest first."""
    seen: set[str] = set()
    mine = []
    for envelope in envelopes:
        if getattr(envelope.event, "debtor_id", None) == debtor_id and envelope.id not in seen:
            seen.add(envelope.id)
            mine.append(envelope)
    mine.sort(key=lambda e: (e.time, _ORDER.get(type(e.event), 9)))
    return [entry for e in mine if (entry := _entry(e)) is not None]


def scrub(text: str) -> str:
    """Free text from providers (error messages) may quote a number or an address: mask any it holds."""
    return _PHONE.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group())), _EMAIL.sub(_mask_email, text))


def _mask_email(match: re.Match[str]) -> str:
    return mask_address(match.group())


def _money(amount: object, currency: str) -> str:
    return f"{amount} {currency}"


def _entry(envelope: Envelope[BaseModel]) -> Entry | None:
    event = envelope.event
    match event:
        case ev.DebtorProfileUpdated():
            kind, text = "profile", _profile(event)
        case ev.AccountOverdue():
            kind = "overdue"
            text = (
                f"account {event.account_id} ({event.product}) {event.days_past_due} days past due: "
                f"{_money(event.amount_due, event.currency)} due, "
                f"{_money(event.total_outstanding, event.currency)} outstanding"
            )
        case ev.PaymentPosted():
            kind = "payment"
            text = (
                f"account {event.account_id} paid {_money(event.amount, event.currency)}, "
                f"{_money(event.outstanding_after, event.currency)} outstanding after"
                + (" (paid in full)" if event.paid_in_full else "")
            )
        case ev.PaymentReversed():
            kind = "reversal"
            text = (
                f"account {event.account_id} payment {event.payment_id} of "
                f"{_money(event.amount, event.currency)} reversed"
            )
        case ev.PromiseToPayRecorded():
            kind = "promise"
            text = (
                f"account {event.account_id} promised {_money(event.amount, event.currency)} "
                f"by {event.promised_date} (via {event.source.value})"
            )
        case ev.AccountStatusChanged():
            kind, text = "status", f"account {event.account_id} {event.status.value}"
        case ev.ContactRequested():
            kind = "request"
            timing = "".join(
                f", {label} {value.isoformat()}"
                for label, value in (("not before", event.not_before), ("expires", event.expires_at))
                if value is not None
            )
            text = (
                f"{event.request_id} {event.channel.value} to {mask_address(event.destination)} "
                f"template {event.template} ({event.kind.value}, step {event.step or '-'}) "
                f"strategy {event.strategy} v{event.strategy_version} arm {event.arm}{timing}"
            )
        case ev.ContactCancelled():
            which = ", ".join(event.request_ids) or "all pending"
            kind, text = "cancelled", f"account {event.account_id} requests {which}: {event.reason.value}"
        case ev.ComplianceDecision():
            kind, text = "decision", _decision(event)
        case ev.ContactApproved():
            kind = "approved"
            text = (
                f"{event.request_id} {event.channel.value} to {mask_address(event.destination)} "
                f"valid until {event.valid_until.isoformat()}"
            )
        case ev.ContactOutcome():
            kind, text = "outcome", _outcome(event)
        case ev.ConsentChanged():
            kind = "consent"
            text = (
                f"{event.change.value} of {event.channel.value} on {mask_address(event.address)} "
                f"(via {event.source.value})"
            )
        case ev.WrongPartyReported():
            kind = "wrong party"
            text = f"{mask_address(event.address)} is not the debtor's (via {event.source.value})"
        case ev.EscalationRaised():
            kind = "escalation"
            text = (
                f"account {event.account_id} {event.kind.value} at {event.days_past_due} days past due, "
                f"{_money(event.total_outstanding, event.currency)} outstanding: {scrub(event.reason)}"
            )
        case _:
            return None
    return Entry(at=envelope.time, kind=kind, text=text)


def _profile(event: ev.DebtorProfileUpdated) -> str:
    points = "; ".join(
        f"{mask_address(p.address)} [{', '.join(c.value for c in p.consents) or 'no consent'}]"
        for p in event.contact_points
    )
    parts = [
        f"zone {event.timezone or '-'}",
        f"jurisdictions {', '.join(event.jurisdictions) or '-'}",
        f"language {event.language}",
        f"contact points {points or '-'}",
    ]
    if event.flags:
        parts.append(f"flags {', '.join(event.flags)}")
    return ", ".join(parts)


def _decision(event: ev.ComplianceDecision) -> str:
    what = event.channel.value if event.channel is not None else f"escalation {event.escalation}"
    text = f"{event.request_id} {what} {event.decision.value}"
    if event.not_before is not None:
        text += f" until {event.not_before.isoformat()}"
    text += f" reasons {', '.join(event.reasons) or '-'}"
    packs = ", ".join(f"{name} {version}" for name, version in sorted(event.pack_versions.items()))
    return text + f" packs {packs or '-'}"


def _outcome(event: ev.ContactOutcome) -> str:
    text = f"{event.request_id} {event.channel.value} {event.status.value}"
    details = [
        f"{label} {value}"
        for label, value in (
            ("via", event.provider),
            ("ref", event.provider_ref),
            ("error", event.error_code),
            ("failure", event.failure.value if event.failure else None),
            ("reasons", ",".join(event.reasons) or None),
            ("segments", event.segments or None),
            ("seconds", event.duration_seconds or None),
        )
        if value
    ]
    if event.cost:
        details.append(f"cost {_money(event.cost, event.cost_currency)}")
    if event.detail:
        details.append(scrub(event.detail))
    return text + (f" ({'; '.join(details)})" if details else "")
