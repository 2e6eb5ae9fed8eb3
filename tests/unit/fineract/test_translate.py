"""Each row of the Fineract mapping, on records encoded as Fineract encodes them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from schemas import events as ev
from schemas.ids import deterministic_id
from schemas.vocab import Channel
from services.fineract import avro
from services.fineract.settings import FineractSettings
from services.fineract.state import LoanState
from services.fineract.translate import DeadLetter, Hold, Ignored, Translated, translate
from tests.unit.fineract import wire

SETTINGS = FineractSettings()
CREATED = datetime(2024, 10, 24, 9, 52, 59, 123456, tzinfo=UTC)
NOW = datetime(2024, 10, 24, 10, 0, tzinfo=UTC)
LOAN = LoanState(
    loan_id=42,
    client_id=17,
    product="Personal Loan",
    currency="USD",
    decimal_places=2,
    outstanding=Decimal("1200.50"),
    status=300,
)
KNOWN = {42: LOAN}


def translated(value: bytes, loans: dict[int, LoanState] = KNOWN, **settings: object) -> Translated:
    result = translate(value, loans, FineractSettings(**settings) if settings else SETTINGS, NOW)  # type: ignore[arg-type]
    assert isinstance(result, Translated), result
    return result


def only(value: bytes, loans: dict[int, LoanState] = KNOWN, **settings: object) -> ev.BaseModel:
    result = translated(value, loans, **settings)
    assert len(result.events) == 1, result.events
    emitted = result.events[0]
    assert (emitted.ce_id, emitted.ce_time) == (wire.KEY, CREATED)
    return emitted.event


def overdue_record(**kw: object) -> bytes:
    return wire.event("LoanRepaymentOverdueBusinessEvent", avro.LOAN_REPAYMENT_DUE, wire.repayment_due(**kw))  # type: ignore[arg-type]


# ---- overdue -----------------------------------------------------------------------------------


def test_repayment_overdue_is_account_overdue_with_the_past_due_total() -> None:
    event = only(overdue_record())
    assert event == ev.AccountOverdue(
        debtor_id="17",
        account_id="42",
        product="Personal Loan",
        currency="USD",
        amount_due=Decimal("245.67"),
        total_outstanding=Decimal("1200.50"),
        days_past_due=10,  # business date 2024-10-24, installment due 2024-10-14
        due_date=date(2024, 10, 14),
        as_of=CREATED,
    )
    assert str(event.amount_due) == "245.67"  # 245.67000000 on the wire, at the currency's 2 places


def test_an_installment_not_yet_past_due_is_ignored() -> None:
    assert translate(overdue_record(due=wire.BUSINESS), KNOWN, SETTINGS) == Ignored("not_past_due")


def test_delinquency_range_is_account_overdue_due_at_the_delinquent_date() -> None:
    record = wire.event("LoanDelinquencyRangeChangeBusinessEvent", avro.LOAN_DELINQUENCY, wire.delinquency())
    event = only(record)
    assert isinstance(event, ev.AccountOverdue)
    assert (event.due_date, event.days_past_due, event.amount_due) == (
        date(2024, 9, 24),
        30,
        Decimal("245.67"),
    )


def test_leaving_every_delinquency_range_is_a_cure() -> None:
    record = wire.event(
        "LoanDelinquencyRangeChangeBusinessEvent", avro.LOAN_DELINQUENCY, wire.delinquency(in_range=False)
    )
    assert only(record) == ev.AccountStatusChanged(
        debtor_id="17", account_id="42", status=ev.AccountStatus.CURED, effective_at=CREATED
    )


# ---- payments ----------------------------------------------------------------------------------


def test_repayment_is_payment_posted_with_the_balance_after_it() -> None:
    record = wire.event(
        "LoanTransactionMakeRepaymentPostBusinessEvent", avro.LOAN_TRANSACTION, wire.transaction()
    )
    assert only(record) == ev.PaymentPosted(
        debtor_id="17",
        account_id="42",
        payment_id="9001",
        currency="USD",
        amount=Decimal("100.00"),
        outstanding_after=Decimal("900.00"),
        posted_at=CREATED,
    )


def adjustment(old: dict[str, object], new: dict[str, object] | None = None) -> bytes:
    return wire.event(
        "LoanAdjustTransactionBusinessEvent",
        avro.LOAN_ADJUSTMENT,
        {"transactionToAdjust": old, "newTransactionDetail": new},
    )


def test_reversing_a_repayment_is_payment_reversed() -> None:
    assert only(adjustment(wire.transaction())) == ev.PaymentReversed(
        debtor_id="17",
        account_id="42",
        payment_id="9001",
        currency="USD",
        amount=Decimal("100.00"),
        reversed_at=CREATED,
    )


def test_adjusting_a_repayment_reverses_it_and_posts_its_successor() -> None:
    result = translated(
        adjustment(wire.transaction(), wire.transaction(9002, amount="60.00", outstanding="940"))
    )
    reversed_, posted = result.events
    assert isinstance(reversed_.event, ev.PaymentReversed) and reversed_.event.payment_id == "9001"
    assert isinstance(posted.event, ev.PaymentPosted)
    assert (posted.event.payment_id, posted.event.amount, posted.event.outstanding_after) == (
        "9002",
        Decimal("60.00"),
        Decimal("940.00"),
    )
    assert reversed_.ce_id == wire.KEY
    assert posted.ce_id == deterministic_id(wire.KEY, "PaymentPosted")


@pytest.mark.parametrize(
    ("type_id", "code", "reason"),
    [
        (10, "loanTransactionType.accrual", "accrual"),
        (1, "loanTransactionType.disbursement", "not_a_repayment"),
    ],
)
def test_adjusting_anything_but_a_repayment_is_ignored(type_id: int, code: str, reason: str) -> None:
    record = adjustment(wire.transaction(type_id=type_id, code=code))
    assert translate(record, KNOWN, SETTINGS) == Ignored(reason)  # type: ignore[arg-type]


# ---- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (600, ev.AccountStatus.CLOSED),
        (700, ev.AccountStatus.CLOSED),
        (601, ev.AccountStatus.CHARGED_OFF),
        (602, ev.AccountStatus.RESTRUCTURED),
    ],
)
def test_loan_status_changes(status: int, expected: ev.AccountStatus) -> None:
    record = wire.event("LoanStatusChangedBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(status=status))
    result = translated(record)
    (emitted,) = result.events
    assert emitted.event == ev.AccountStatusChanged(
        debtor_id="17", account_id="42", status=expected, effective_at=CREATED
    )
    assert result.changed[42].status == status


def test_a_status_change_the_platform_has_no_event_for_still_teaches_the_loan() -> None:
    record = wire.event("LoanStatusChangedBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(status=200))
    result = translated(record, {})
    assert result.events == () and result.ignored == ("status_not_tracked",)
    assert result.changed[42].status == 200


def test_loan_close_is_closed() -> None:
    record = wire.event("LoanCloseBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(status=600))
    assert only(record) == ev.AccountStatusChanged(
        debtor_id="17", account_id="42", status=ev.AccountStatus.CLOSED, effective_at=CREATED
    )


def test_charge_off_is_charged_off() -> None:
    record = wire.event(
        "LoanChargeOffPostBusinessEvent",
        avro.LOAN_TRANSACTION,
        wire.transaction(type_id=27, code="loanTransactionType.chargeOff"),
    )
    assert only(record) == ev.AccountStatusChanged(
        debtor_id="17", account_id="42", status=ev.AccountStatus.CHARGED_OFF, effective_at=CREATED
    )


# ---- clients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["ClientCreateBusinessEvent", "ClientActivateBusinessEvent"])
def test_client_is_a_profile_with_only_what_fineract_sent(event_type: str) -> None:
    record = wire.event(event_type, avro.CLIENT, wire.client(), category="Client")
    profile = only(record, {})
    assert profile == ev.DebtorProfileUpdated(
        debtor_id="17",
        name="Alex Doe",
        contact_points=[
            ev.ContactPoint(type=ev.ContactPointType.PHONE, address="+16175550100"),
            ev.ContactPoint(type=ev.ContactPointType.EMAIL, address="alex@example.com"),
        ],
    )
    assert (
        profile.timezone is None and profile.jurisdictions == [] and profile.contact_points[0].consents == []
    )


def test_client_profile_takes_the_tenants_defaults() -> None:
    record = wire.event(
        "ClientActivateBusinessEvent", avro.CLIENT, wire.client(mobile="(617) 555-0100"), category="Client"
    )
    profile = only(
        record,
        {},
        timezone="America/New_York",
        language="es-US",
        jurisdictions=["US", "US-MA"],
        phone_region="US",
        phone_consents=[Channel.SMS],
        email_consents=[Channel.EMAIL],
    )
    assert isinstance(profile, ev.DebtorProfileUpdated)
    assert (profile.timezone, profile.language, profile.jurisdictions) == (
        "America/New_York",
        "es-US",
        ["US", "US-MA"],
    )
    phone, email = profile.contact_points
    assert (phone.address, phone.consents, email.consents) == ("+16175550100", [Channel.SMS], [Channel.EMAIL])


@pytest.mark.parametrize("mobile", ["(617) 555-0100", "12345", "not a number", "", None])
def test_a_mobile_number_that_does_not_parse_is_left_out(mobile: str | None) -> None:
    # Without a region, a number with no country code cannot be told apart from garbage.
    record = wire.event("ClientCreateBusinessEvent", avro.CLIENT, wire.client(mobile=mobile, email=None))
    profile = only(record, {})
    assert isinstance(profile, ev.DebtorProfileUpdated) and profile.contact_points == []


# ---- learning loans ------------------------------------------------------------------------------


def test_events_carrying_the_loan_teach_its_client_and_publish_nothing() -> None:
    record = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account())
    result = translated(record, {})
    assert result.events == ()
    assert result.changed == {42: LOAN}
    # Learned, the overdue that follows is translated instead of held.
    assert isinstance(translate(overdue_record(), result.changed, SETTINGS, NOW), Translated)
    # The same loan again changes nothing, so nothing is written back.
    assert translated(record, result.changed).changed == {}


def test_both_releases_loan_account_teach_the_same_loan() -> None:
    old = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), release=wire.OLD)
    new = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), release=wire.DEV)
    old_payload, new_payload = (avro.decode(r, avro.MESSAGE)[1]["data"] for r in (old, new))
    assert old_payload[2:10] != new_payload[2:10]  # two fingerprints of one type name
    assert translated(old, {}).changed == translated(new, {}).changed == {42: LOAN}


@pytest.mark.parametrize(
    "record",
    [
        overdue_record(),
        wire.event("LoanDelinquencyRangeChangeBusinessEvent", avro.LOAN_DELINQUENCY, wire.delinquency()),
        wire.event(
            "LoanTransactionMakeRepaymentPostBusinessEvent", avro.LOAN_TRANSACTION, wire.transaction()
        ),
        adjustment(wire.transaction()),
    ],
    ids=["overdue", "delinquency", "repayment", "reversal"],
)
def test_an_event_about_an_unknown_loan_is_held_for_the_bound(record: bytes) -> None:
    assert translate(record, {}, SETTINGS, NOW) == Hold(42, NOW + timedelta(seconds=SETTINGS.hold_seconds))
    assert translate(record, {}, SETTINGS) == Hold(42, None)


def test_a_group_loan_has_no_one_to_contact() -> None:
    group = LOAN.model_copy(update={"client_id": None})
    assert translate(overdue_record(), {42: group}, SETTINGS) == Ignored("no_client")


# ---- ids and tenants -----------------------------------------------------------------------------


def test_other_tenants_are_ignored() -> None:
    assert translate(
        wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), tenant="bank2"),
        {},
        SETTINGS,
    ) == Ignored("other_tenant")


def test_ids_can_carry_the_tenant() -> None:
    event = only(overdue_record(), prefix_ids_with_tenant=True, tenant="default")
    assert isinstance(event, ev.AccountOverdue)
    assert (event.debtor_id, event.account_id) == ("default:17", "default:42")


# ---- what is ignored -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "category", "reason"),
    [
        ("LoanRepaymentDueBusinessEvent", "Loan", "repayment_due"),
        ("LoanAccrualTransactionCreatedBusinessEvent", "Loan", "accrual"),
        ("LoanTransactionAccrualActivityPostBusinessEvent", "Loan", "accrual"),
        ("SavingsDepositBusinessEvent", "Savings", "savings"),
        ("FixedDepositAccountCreateBusinessEvent", "Deposit", "savings"),
        ("ShareAccountCreateBusinessEvent", "Share", "not_translated"),
        ("SomethingNewBusinessEvent", "Loan", "not_translated"),
    ],
)
def test_events_not_translated_are_ignored_without_reading_their_payload(
    event_type: str, category: str, reason: str
) -> None:
    # The payload is no Avro at all: an ignored type is never decoded (its schema may be one we lack).
    record = wire.message(
        event_type, "org.apache.fineract.avro.x.v1.Whatever", b"\x00junk", category=category
    )
    assert translate(record, KNOWN, SETTINGS) == Ignored(reason)  # type: ignore[arg-type]


# ---- amounts -------------------------------------------------------------------------------------


def test_amounts_are_quantized_to_the_currencys_places_never_rounded() -> None:
    assert translate(overdue_record(past_due="245.671"), KNOWN, SETTINGS) == DeadLetter(
        "too_many_decimals", "pastDueAmount.totalAmount has more than 2 decimal places"
    )


def test_a_currency_without_decimals() -> None:
    yen = LOAN.model_copy(update={"currency": "JPY", "decimal_places": 0, "outstanding": Decimal(52000)})
    event = only(overdue_record(past_due="12000", places=0), {42: yen})
    assert isinstance(event, ev.AccountOverdue) and str(event.amount_due) == "12000"


def test_a_null_the_translation_needs_is_a_missing_field() -> None:
    result = translate(overdue_record(past_due=None), KNOWN, SETTINGS)
    assert result == DeadLetter("missing_field", "pastDueAmount is null")


# ---- bulk ----------------------------------------------------------------------------------------


def cob_bulk(snapshot: bool = True) -> bytes:
    items = [
        ("LoanDelinquencyRangeChangeBusinessEvent", avro.LOAN_DELINQUENCY, wire.delinquency()),
        ("LoanAccrualTransactionCreatedBusinessEvent", avro.LOAN_TRANSACTION, wire.transaction(type_id=10)),
        ("LoanRepaymentOverdueBusinessEvent", avro.LOAN_REPAYMENT_DUE, wire.repayment_due()),
    ]
    if snapshot:
        items.append(("LoanAccountCustomSnapshotBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account()))
    return wire.bulk(items)


def test_a_bulk_is_translated_item_by_item_with_ids_derived_from_its_key() -> None:
    result = translated(cob_bulk(), {})
    # The snapshot at the end of the COB bulk taught the loan the items ahead of it needed.
    assert result.changed == {42: LOAN}
    assert [type(e.event) for e in result.events] == [ev.AccountOverdue, ev.AccountOverdue]
    assert [e.ce_id for e in result.events] == [
        deterministic_id("fineract", wire.KEY, "1"),
        deterministic_id("fineract", wire.KEY, "3"),
    ]
    assert {e.ce_time for e in result.events} == {CREATED}
    assert result.ignored == ("accrual",)


def test_a_bulk_retried_yields_the_same_ids() -> None:
    assert translated(cob_bulk(), {}).events == translated(cob_bulk(), KNOWN).events


def test_a_bulk_about_an_unknown_loan_is_held_whole() -> None:
    assert translate(cob_bulk(snapshot=False), {}, SETTINGS, NOW) == Hold(42, NOW + timedelta(hours=1))


def test_a_bulk_with_an_unreadable_item_is_dead_lettered_whole() -> None:
    items = [
        ("LoanRepaymentOverdueBusinessEvent", avro.LOAN_REPAYMENT_DUE, wire.repayment_due()),
        ("LoanRepaymentOverdueBusinessEvent", avro.LOAN_REPAYMENT_DUE, wire.repayment_due(past_due="1.001")),
    ]
    result = translate(wire.bulk(items), KNOWN, SETTINGS)
    assert isinstance(result, DeadLetter) and result.reason == "too_many_decimals"


@pytest.mark.parametrize(
    "account",
    [
        wire.loan_account()
        | {"summary": {"currency": wire.currency(places=99), "totalOutstanding": Decimal(1)}},
        wire.loan_account() | {"summary": {"currency": {"code": "usd!", "decimalPlaces": 2}}},
        wire.loan_account() | {"summary": {"currency": wire.currency(places=-1)}},
    ],
    ids=["places", "code", "negative-places"],
)
def test_a_loan_fineract_could_not_have_written_is_refused(account: dict[str, object]) -> None:
    record = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, account)
    result = translate(record, {}, SETTINGS)
    assert isinstance(result, DeadLetter) and result.reason == "bad_value", result
