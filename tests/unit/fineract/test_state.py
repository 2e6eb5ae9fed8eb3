"""The adapter's state: what it learns of a loan, its JSON for the changelog, and the bootstrap."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.vocab import Channel
from services.core.settings import ConfigError, load
from services.fineract.avro import FineractDecodeError
from services.fineract.settings import FineractSettings
from services.fineract.state import LoanState, seed_from_listing

# One page of GET /v1/loans as Fineract serializes it (LoanAccountData's fields; amounts as JSON numbers).
LISTING = {
    "totalFilteredRecords": 4,
    "pageItems": [
        {
            "id": 42,
            "accountNo": "000000042",
            "status": {"id": 300, "code": "loanStatusType.active", "value": "Active", "active": True},
            "clientId": 17,
            "clientName": "Alex Doe",
            "loanProductId": 3,
            "loanProductName": "Personal Loan",
            "currency": {"code": "USD", "name": "US Dollar", "decimalPlaces": 2, "inMultiplesOf": 1},
            "summary": {"currency": {"code": "USD", "decimalPlaces": 2}, "totalOutstanding": 1200.5},
            "timeline": {"submittedOnDate": [2024, 1, 5]},
        },
        {
            "id": 43,
            "status": {"id": 300},
            "loanProductId": 9,
            "currency": {"code": "KES", "decimalPlaces": 0},
            "summary": {"totalOutstanding": 50000},
            "group": {"id": 5, "name": "Market women"},
        },
        {"id": 44, "currency": {"code": "USD", "decimalPlaces": 2}, "summary": {"totalOutstanding": 0.001}},
        {"accountNo": "no id"},
    ],
}


def test_the_loan_listing_seeds_the_loan_map() -> None:
    seed = seed_from_listing(json.dumps(LISTING))
    assert seed.total == 4 and seed.skipped == 2  # a balance finer than its currency, an item with no id
    assert seed.loans[42] == LoanState(
        loan_id=42,
        client_id=17,
        product="Personal Loan",
        currency="USD",
        decimal_places=2,
        outstanding=Decimal("1200.50"),
        status=300,
    )
    group = seed.loans[43]
    assert (group.client_id, group.product, group.outstanding) == (None, "9", Decimal(50000))


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"pageItems": 3}'])
def test_a_listing_that_is_not_one_is_refused(body: bytes) -> None:
    with pytest.raises(FineractDecodeError):
        seed_from_listing(body)


def test_state_is_json_for_the_changelog() -> None:
    states = seed_from_listing(json.dumps(LISTING)).loans
    adapter = TypeAdapter(dict[int, LoanState])
    assert adapter.validate_json(adapter.dump_json(states)) == states
    raw = json.loads(states[42].model_dump_json())
    assert raw["outstanding"] == "1200.50"  # exact, never a float
    with pytest.raises(ValidationError):
        LoanState.model_validate(raw | {"surprise": 1})


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINERACT_ADAPTER_TENANT", "bank1")
    monkeypatch.setenv("FINERACT_ADAPTER_JURISDICTIONS", "US, US-MA")
    monkeypatch.setenv("FINERACT_ADAPTER_PHONE_CONSENTS", "sms,voice")
    monkeypatch.setenv("FINERACT_ADAPTER_PREFIX_IDS_WITH_TENANT", "true")
    settings = load(FineractSettings)
    assert settings.topic == "external-events"
    assert settings.jurisdictions == ["US", "US-MA"]
    assert settings.phone_consents == [Channel.SMS, Channel.VOICE]
    assert (settings.debtor_id(17), settings.account_id(42)) == ("bank1:17", "bank1:42")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PHONE_CONSENTS", "email"),
        ("EMAIL_CONSENTS", "sms"),
        ("TIMEZONE", "Mars/Olympus"),
        ("JURISDICTIONS", "usa"),
        ("TENANT", "a tenant"),
        ("HOLD_SECONDS", "0"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"FINERACT_ADAPTER_{name}", value)
    with pytest.raises(ConfigError):
        load(FineractSettings)
