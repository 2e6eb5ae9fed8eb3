"""From one Fineract record to the platform's events: pure functions, no I/O, no clock, no metrics.

``translate(value, loans, settings, now)`` reads one record value (``translate_message`` one whose envelope
was read already) and returns what to do with it:

- ``Translated``: events to publish (each with its ``ce_id`` and ``ce_time``) and the loan states the
  record changed, to write back; a bulk record also lists the reasons of the items it left out;
- ``Ignored``: nothing to do, for a reason to count (another tenant, an event type not translated);
- ``Hold``: the record is about a loan not learned yet; retry it when the loan is learned, and dead-letter
  it once ``until`` has passed;
- ``DeadLetter``: the record cannot be read or translated; ``reason`` is machine-readable.

A bulk record is translated as a whole: one item held or dead-lettered holds or dead-letters the record,
and the deterministic ids of its items make the retry publish nothing twice.

| Fineract event (payload)                          | platform event                                    |
|---------------------------------------------------|---------------------------------------------------|
| LoanRepaymentOverdueBusinessEvent                 | AccountOverdue (past-due total, from installment) |
| LoanDelinquencyRangeChangeBusinessEvent, a range  | AccountOverdue (due date = delinquentDate)        |
| LoanDelinquencyRangeChangeBusinessEvent, no range | AccountStatusChanged cured                        |
| LoanTransactionMakeRepaymentPostBusinessEvent     | PaymentPosted                                     |
| LoanAdjustTransactionBusinessEvent of a repayment | PaymentReversed (+ PaymentPosted of its successor)|
| LoanStatusChangedBusinessEvent 600/700, LoanClose | AccountStatusChanged closed                       |
| LoanStatusChangedBusinessEvent 601, LoanChargeOff | AccountStatusChanged charged_off                  |
| LoanStatusChangedBusinessEvent 602                | AccountStatusChanged restructured                 |
| ClientCreate/ClientActivateBusinessEvent          | DebtorProfileUpdated                              |
| any other event carrying LoanAccountDataV1        | none: the loan is learned                         |
| CollectionsLoanSeed (the bootstrap command's)     | none: the loan is learned if it was not known     |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import phonenumbers
from pydantic import BaseModel, ValidationError

from schemas import events as ev
from schemas import ids

from . import avro
from .avro import FineractDecodeError, Reason
from .model import (
    Bulk,
    Client,
    Currency,
    LoanAccount,
    LoanDelinquency,
    LoanRepaymentDue,
    LoanTransaction,
    LoanTransactionAdjustment,
    Message,
)
from .settings import FineractSettings
from .state import LoanState, learn, quantize

BULK_TYPE = "BulkBusinessEvent"
# Not Fineract's: the bootstrap command's record of a loan from the loan listing, in Fineract's envelope. It
# teaches a loan only when no event did, since the stream is newer than any listing.
SEED_TYPE = "CollectionsLoanSeed"

IgnoreReason = Literal[
    "other_tenant",  # MessageV1.tenantId is not the configured tenant
    "repayment_due",  # reminders before the due date: not collections
    "accrual",  # interest accruals and their adjustments
    "savings",  # savings, fixed and recurring deposits
    "not_translated",  # any other event type
    "not_a_repayment",  # an adjustment of a transaction that is not a repayment
    "status_not_tracked",  # a loan status change to a status the platform has no event for
    "no_client",  # a group loan: no one person to contact
    "not_past_due",  # an overdue whose due date is not before the business date
    "already_known",  # a seed of a loan the stream taught already
]


@dataclass(frozen=True, slots=True)
class Emitted:
    """One platform event and the CloudEvents attributes the adapter gives it."""

    event: BaseModel
    ce_id: str
    ce_time: datetime


@dataclass(frozen=True, slots=True)
class Translated:
    changed: dict[int, LoanState] = field(default_factory=dict)  # loan id -> its new state
    events: tuple[Emitted, ...] = ()
    ignored: tuple[IgnoreReason, ...] = ()  # the bulk items left out, one reason each


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: IgnoreReason


@dataclass(frozen=True, slots=True)
class Hold:
    loan_id: int
    until: datetime | None  # now + hold_seconds; None when no ``now`` was given
    reason: Literal["unknown_loan"] = "unknown_loan"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: Reason
    detail: str  # names types and fields, never values


Translation = Translated | Ignored | Hold | DeadLetter


def translate(
    value: bytes,
    loans: Mapping[int, LoanState],
    settings: FineractSettings,
    now: datetime | None = None,
) -> Translation:
    """Translate one record value; ``loans`` is the adapter's state (a view is enough: it is only read)."""
    try:
        message = decode_message(value)
    except FineractDecodeError as exc:
        return DeadLetter(exc.reason, exc.message)
    return translate_message(message, loans, settings, now)


def translate_message(
    message: Message,
    loans: Mapping[int, LoanState],
    settings: FineractSettings,
    now: datetime | None = None,
) -> Translation:
    """Translate one record whose ``MessageV1`` envelope is read (``decode_message``)."""
    try:
        if message.tenant_id != settings.tenant:
            return Ignored("other_tenant")
        context = _Context(message, message.type, settings, now)
        if message.type == BULK_TYPE:
            return _bulk(context, loans)
        step = _parse(message.type, message.category, message.dataschema, message.data)
        if isinstance(step, Ignored):
            return step
        return step.apply(context, loans, message.idempotency_key)
    except FineractDecodeError as exc:
        return DeadLetter(exc.reason, exc.message)


def decode_message(value: bytes) -> Message:
    """The ``MessageV1`` envelope of a record value (its payload still encoded)."""
    return _read(value, avro.MESSAGE, Message)


V = TypeVar("V", bound=BaseModel)


def _read(data: bytes, schema: str, view: type[V]) -> V:
    _, record = avro.decode(data, schema)
    try:
        return view.model_validate(record)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise FineractDecodeError("bad_value", f"{schema.rsplit('.', 1)[1]}: {where} does not parse") from exc


@dataclass(frozen=True, slots=True)
class _Context:
    message: Message
    event_type: str  # the message's, or in a bulk the item's
    settings: FineractSettings
    now: datetime | None

    def hold(self, loan_id: int) -> Hold:
        until = self.now + timedelta(seconds=self.settings.hold_seconds) if self.now else None
        return Hold(loan_id, until)

    def ids(self, state: LoanState) -> dict[str, str]:
        """The debtor and account ids of a loan with a client."""
        client_id = _required(state.client_id, "clientId")
        return {
            "debtor_id": self.settings.debtor_id(client_id),
            "account_id": self.settings.account_id(state.loan_id),
        }


# ---- routing ---------------------------------------------------------------------------------


Step = Translated | Ignored | Hold


@dataclass(frozen=True, slots=True)
class _Route(Generic[V]):
    schema: str
    view: type[V]
    handle: Callable[[V, _Context, Mapping[int, LoanState], str], Step]


@dataclass(frozen=True, slots=True)
class _Parsed(Generic[V]):
    route: _Route[V]
    payload: V

    def apply(self, context: _Context, loans: Mapping[int, LoanState], ce_id: str) -> Step:
        return self.route.handle(self.payload, context, loans, ce_id)


def _parse(event_type: str, category: str, dataschema: str, data: bytes) -> _Parsed[Any] | Ignored:
    route = _ROUTES.get(event_type) or (_LOAN_ACCOUNT if dataschema == avro.LOAN_ACCOUNT else None)
    if route is None:
        return Ignored(_why_not(event_type, category))
    if dataschema != route.schema:
        raise FineractDecodeError(
            "unknown_type", f"{event_type} carries {dataschema[:200]}, expected {route.schema}"
        )
    return _Parsed(route, _read(data, route.schema, route.view))


def _why_not(event_type: str, category: str) -> IgnoreReason:
    if event_type == "LoanRepaymentDueBusinessEvent":
        return "repayment_due"
    if "Accrual" in event_type:
        return "accrual"
    if category in ("Savings", "Deposit") or event_type.startswith(
        ("Savings", "FixedDeposit", "RecurringDeposit")
    ):
        return "savings"
    return "not_translated"


def _bulk(context: _Context, loans: Mapping[int, LoanState]) -> Translated | Hold:
    message = context.message
    items = _read(message.data, avro.BULK, Bulk).datas
    parsed = [(item, _parse(item.type, item.category, item.dataschema, item.data)) for item in items]
    changed: dict[int, LoanState] = {}
    known = _Overlay(changed, loans)
    # A COB bulk ends with the loan's snapshot when the bank configured one: learn the loan from it before
    # the events ahead of it need its client.
    for _, step in parsed:
        if isinstance(step, _Parsed) and isinstance(step.payload, LoanAccount):
            loan_id = step.payload.id
            if loan_id is not None and loan_id not in known:
                changed[loan_id] = learn(step.payload)
    events: list[Emitted] = []
    ignored: list[IgnoreReason] = []
    for item, step in parsed:
        if isinstance(step, Ignored):
            ignored.append(step.reason)
            continue
        # Items are numbered within their bulk, and the bulk's idempotency key is stable.
        result = step.apply(
            replace(context, event_type=item.type),
            known,
            ids.bulk_item_id(message.idempotency_key, str(item.id)),
        )
        if isinstance(result, Hold):
            return result
        if isinstance(result, Ignored):
            ignored.append(result.reason)
            continue
        changed.update(result.changed)
        events.extend(result.events)
    return Translated(changed=changed, events=tuple(events), ignored=tuple(ignored))


class _Overlay(Mapping[int, LoanState]):
    """The loan states a bulk changed so far, over the adapter's, which stay untouched."""

    def __init__(self, changed: dict[int, LoanState], base: Mapping[int, LoanState]) -> None:
        self.changed, self.base = changed, base

    def __getitem__(self, loan_id: int) -> LoanState:
        return self.changed[loan_id] if loan_id in self.changed else self.base[loan_id]

    def __iter__(self) -> Iterator[int]:
        yield from self.changed
        yield from (loan_id for loan_id in self.base if loan_id not in self.changed)

    def __len__(self) -> int:
        return len(self.changed) + sum(1 for loan_id in self.base if loan_id not in self.changed)


# ---- loans -----------------------------------------------------------------------------------

# Fineract's loan status codes: 600 closed (obligations met), 700 overpaid, 601 closed (written off),
# 602 closed (rescheduled into a new loan).
_STATUS = {
    600: ev.AccountStatus.CLOSED,
    700: ev.AccountStatus.CLOSED,
    601: ev.AccountStatus.CHARGED_OFF,
    602: ev.AccountStatus.RESTRUCTURED,
}


def _loan_account(
    account: LoanAccount, context: _Context, loans: Mapping[int, LoanState], ce_id: str
) -> Step:
    previous = loans.get(account.id) if account.id is not None else None
    state = learn(account, previous)
    changed = {state.loan_id: state} if state != previous else {}
    if context.event_type == "LoanCloseBusinessEvent":
        status = ev.AccountStatus.CLOSED
    elif context.event_type == "LoanStatusChangedBusinessEvent":
        tracked = _STATUS.get(state.status) if state.status is not None else None
        if tracked is None:
            return Translated(changed=changed, ignored=("status_not_tracked",))
        status = tracked
    else:
        return Translated(changed=changed)
    if state.client_id is None:
        return Translated(changed=changed, ignored=("no_client",))
    event = _status_changed(state, status, context)
    return Translated(changed=changed, events=(_emit(event, ce_id, context),))


def _seed(account: LoanAccount, context: _Context, loans: Mapping[int, LoanState], ce_id: str) -> Step:
    if account.id is not None and account.id in loans:
        return Ignored("already_known")
    state = learn(account)
    return Translated(changed={state.loan_id: state})


def _overdue(due: LoanRepaymentDue, context: _Context, loans: Mapping[int, LoanState], ce_id: str) -> Step:
    state = _known(due.loan_id, context, loans)
    if not isinstance(state, LoanState):
        return state
    installment = _required(due.installment, "installment")
    due_date = _required(installment.installment_due_date, "installment.installmentDueDate")
    past_due = _required(due.past_due_amount, "pastDueAmount")
    return _account_overdue(
        state, due.currency, due_date, past_due.total_amount, "pastDueAmount", context, ce_id
    )


def _delinquency(
    change: LoanDelinquency, context: _Context, loans: Mapping[int, LoanState], ce_id: str
) -> Step:
    state = _known(change.loan_id, context, loans)
    if not isinstance(state, LoanState):
        return state
    if change.delinquency_range is None:
        # Out of every delinquency range: Fineract's cure.
        event = _status_changed(state, ev.AccountStatus.CURED, context)
        return Translated(events=(_emit(event, ce_id, context),))
    due_date = _required(change.delinquent_date, "delinquentDate")
    amount = change.amount.total_amount if change.amount else None
    return _account_overdue(state, change.currency, due_date, amount, "amount", context, ce_id)


def _account_overdue(
    state: LoanState,
    currency: Currency | None,
    due_date: date,
    amount: Decimal | None,
    amount_field: str,
    context: _Context,
    ce_id: str,
) -> Step:
    days = (context.message.business_date - due_date).days
    if days < 1:
        return Ignored("not_past_due")
    code, places = _currency(currency, state)
    event = _validated(
        ev.AccountOverdue,
        **context.ids(state),
        product=state.product,
        currency=code,
        amount_due=_money(amount, places, f"{amount_field}.totalAmount"),
        total_outstanding=_required(state.outstanding, "summary.totalOutstanding of the loan"),
        days_past_due=days,
        due_date=due_date,
        as_of=context.message.created_at,
    )
    return Translated(events=(_emit(event, ce_id, context),))


def _payment(tx: LoanTransaction, context: _Context, loans: Mapping[int, LoanState], ce_id: str) -> Step:
    state = _known(tx.loan_id, context, loans)
    if not isinstance(state, LoanState):
        return state
    return Translated(events=(_emit(_payment_posted(tx, state, context), ce_id, context),))


def _charge_off(tx: LoanTransaction, context: _Context, loans: Mapping[int, LoanState], ce_id: str) -> Step:
    state = _known(tx.loan_id, context, loans)
    if not isinstance(state, LoanState):
        return state
    event = _status_changed(state, ev.AccountStatus.CHARGED_OFF, context)
    return Translated(events=(_emit(event, ce_id, context),))


def _adjustment(
    adjustment: LoanTransactionAdjustment, context: _Context, loans: Mapping[int, LoanState], ce_id: str
) -> Step:
    old = _required(adjustment.transaction_to_adjust, "transactionToAdjust")
    if not old.is_repayment:
        code = (old.type.code if old.type else None) or ""
        return Ignored("accrual" if "accrual" in code.lower() else "not_a_repayment")
    state = _known(old.loan_id, context, loans)
    if not isinstance(state, LoanState):
        return state
    code, places = _currency(old.currency, state)
    reversed_ = _validated(
        ev.PaymentReversed,
        **context.ids(state),
        payment_id=str(_required(old.id, "transactionToAdjust.id")),
        currency=code,
        amount=_money(old.amount, places, "transactionToAdjust.amount"),
        reversed_at=context.message.created_at,
    )
    events = [_emit(reversed_, ce_id, context)]
    new = adjustment.new_transaction_detail
    # An adjusted amount (or a replay after a backdated transaction) books a new repayment in the old
    # one's place, and Fineract raises no repayment event for it: this is the only news of it.
    if new is not None and new.is_repayment and (new.amount or 0) > 0:
        posted = _payment_posted(new, state, context)
        events.append(_emit(posted, ids.derived_id(ce_id, "PaymentPosted"), context))
    return Translated(events=tuple(events))


def _known(loan_id: int | None, context: _Context, loans: Mapping[int, LoanState]) -> LoanState | Step:
    """The learned loan, if it has a client; else why not: held (not learned yet), ignored (a group loan)."""
    state = loans.get(_required(loan_id, "loanId"))
    if state is None:
        return context.hold(_required(loan_id, "loanId"))
    if state.client_id is None:
        return Ignored("no_client")
    return state


def _payment_posted(tx: LoanTransaction, state: LoanState, context: _Context) -> ev.PaymentPosted:
    code, places = _currency(tx.currency, state)
    return _validated(
        ev.PaymentPosted,
        **context.ids(state),
        payment_id=str(_required(tx.id, "LoanTransactionDataV1.id")),
        currency=code,
        amount=_money(tx.amount, places, "amount"),
        outstanding_after=_money(tx.outstanding_loan_balance, places, "outstandingLoanBalance"),
        posted_at=context.message.created_at,
    )


def _status_changed(state: LoanState, status: ev.AccountStatus, context: _Context) -> ev.AccountStatusChanged:
    return _validated(
        ev.AccountStatusChanged,
        **context.ids(state),
        status=status,
        effective_at=context.message.created_at,
    )


# ---- clients ---------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME_MAX = 200  # DebtorProfileUpdated.name


def _profile(client: Client, context: _Context, loans: Mapping[int, LoanState], ce_id: str) -> Step:
    settings = context.settings
    points = []
    phone = _phone(client.mobile_no, settings.phone_region)
    if phone is not None:
        points.append(
            _validated(
                ev.ContactPoint,
                type=ev.ContactPointType.PHONE,
                address=phone,
                consents=settings.phone_consents,
            )
        )
    email = (client.email_address or "").strip()
    if 3 <= len(email) <= 254 and _EMAIL.match(email):
        points.append(
            _validated(
                ev.ContactPoint,
                type=ev.ContactPointType.EMAIL,
                address=email,
                consents=settings.email_consents,
            )
        )
    name = (
        client.display_name
        or client.fullname
        or _joined(client.firstname, client.middlename, client.lastname)
    )
    defaults: dict[str, Any] = {"language": settings.language} if settings.language else {}
    event = _validated(
        ev.DebtorProfileUpdated,
        debtor_id=settings.debtor_id(_required(client.id, "ClientDataV1.id")),
        name=name.strip()[:_NAME_MAX] if name else None,
        contact_points=points,
        timezone=settings.timezone,
        jurisdictions=settings.jurisdictions,
        **defaults,
    )
    return Translated(events=(_emit(event, ce_id, context),))


def _phone(raw: str | None, region: str | None) -> str | None:
    """``raw`` in E.164 if it is a valid number (read in ``region`` when it has no country code)."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted


def _joined(*parts: str | None) -> str | None:
    return " ".join(p.strip() for p in parts if p and p.strip()) or None


# ---- shared ----------------------------------------------------------------------------------

T = TypeVar("T")
E = TypeVar("E", bound=BaseModel)


def _required(value: T | None, name: str) -> T:
    if value is None:
        raise FineractDecodeError("missing_field", f"{name} is null")
    return value


def _currency(currency: Currency | None, state: LoanState) -> tuple[str, int]:
    code = (currency.code if currency else None) or state.currency
    places = currency.decimal_places if currency and currency.decimal_places is not None else None
    places = places if places is not None else state.decimal_places
    return _required(code, "currency.code"), _required(places, "currency.decimalPlaces")


def _money(value: Decimal | None, places: int, name: str) -> Decimal:
    return quantize(_required(value, name), places, name)


def _validated(model: type[E], **fields: Any) -> E:
    """Build a platform event; a value it refuses (an amount too large, a name too long) dead-letters
    the record naming the field, never quoting the value."""
    try:
        return model(**fields)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise FineractDecodeError("bad_value", f"{model.__name__}: {where} refused") from exc


def _emit(event: BaseModel, ce_id: str, context: _Context) -> Emitted:
    return Emitted(event=event, ce_id=ce_id, ce_time=context.message.created_at)


_ROUTES: dict[str, _Route[Any]] = {
    "LoanRepaymentOverdueBusinessEvent": _Route(avro.LOAN_REPAYMENT_DUE, LoanRepaymentDue, _overdue),
    "LoanDelinquencyRangeChangeBusinessEvent": _Route(avro.LOAN_DELINQUENCY, LoanDelinquency, _delinquency),
    "LoanTransactionMakeRepaymentPostBusinessEvent": _Route(avro.LOAN_TRANSACTION, LoanTransaction, _payment),
    "LoanChargeOffPostBusinessEvent": _Route(avro.LOAN_TRANSACTION, LoanTransaction, _charge_off),
    "LoanAdjustTransactionBusinessEvent": _Route(
        avro.LOAN_ADJUSTMENT, LoanTransactionAdjustment, _adjustment
    ),
    "ClientCreateBusinessEvent": _Route(avro.CLIENT, Client, _profile),
    "ClientActivateBusinessEvent": _Route(avro.CLIENT, Client, _profile),
    SEED_TYPE: _Route(avro.LOAN_ACCOUNT, LoanAccount, _seed),
}
# Every other event carrying the whole loan (created, approved, disbursed, balance changed, ...) teaches it.
_LOAN_ACCOUNT: _Route[LoanAccount] = _Route(avro.LOAN_ACCOUNT, LoanAccount, _loan_account)
