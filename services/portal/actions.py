"""What the debtor does in the portal, as events: pure builders that check the form against the read model
and the limits, and return the event with its id, or why not.

Each id comes from the form's nonce (``schemas.ids.portal_action_id``): submitting one form twice is one
event, two forms are two. A promise is for one account in collections, of at least the minimum and at most
what is past due on it (a larger payment goes through the bank's payment page), in the account's currency
and its minor units, on a date from tomorrow (the debtor's day) up to the configured number of days ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from schemas import events as ev
from schemas import ids
from schemas.values import InvalidValue, check_minor_units
from services.portal.book import DebtorFile, local_today


class Problem(StrEnum):
    ACCOUNT = "invalid_account"
    AMOUNT = "invalid_amount"
    DATE = "invalid_date"


@dataclass(frozen=True, slots=True)
class PromiseLimits:
    max_days: int
    min_amount: Decimal


def promise(
    file: DebtorFile,
    account_id: str,
    amount_text: str,
    date_text: str,
    nonce: str,
    now: datetime,
    limits: PromiseLimits,
) -> tuple[ev.PromiseToPayRecorded, str] | list[Problem]:
    problems: list[Problem] = []
    account = next((a for a in file.in_collections() if a.account_id == account_id), None)
    if account is None or account.overdue is None:
        return [Problem.ACCOUNT]
    currency = account.overdue.currency
    amount = _amount(amount_text)
    if amount is None or not limits.min_amount <= amount <= account.past_due:
        problems.append(Problem.AMOUNT)
    else:
        try:
            check_minor_units(currency, amount=amount)
        except (InvalidValue, ValueError):
            problems.append(Problem.AMOUNT)
    today = local_today(now, file.timezone)
    day = _day(date_text)
    if day is None or not today < day <= today + timedelta(days=limits.max_days):
        problems.append(Problem.DATE)
    if problems:
        return problems
    assert amount is not None
    assert day is not None
    event_id = ids.portal_action_id("promise", file.debtor_id, nonce)
    event = ev.PromiseToPayRecorded(
        debtor_id=file.debtor_id,
        account_id=account.account_id,
        promise_id=event_id,
        currency=currency,
        amount=amount,
        promised_date=day,
        source=ev.PromiseSource.WEB,
        recorded_at=now,
    )
    return event, event_id


def not_me(debtor_id: str, address: str, nonce: str, now: datetime) -> tuple[ev.WrongPartyReported, str]:
    event_id = ids.portal_action_id("not_me", debtor_id, nonce)
    event = ev.WrongPartyReported(
        debtor_id=debtor_id, address=address, source=ev.WrongPartySource.PORTAL, reported_at=now
    )
    return event, event_id


def _amount(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", "")
    if not cleaned or len(cleaned) > 20:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None
