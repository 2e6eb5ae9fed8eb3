"""The cost an SMS outcome carries: the segments Twilio counted and, once Twilio prices the message, its own
charge and currency; before that, the estimate of segments times the configured price."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from schemas.vocab import Channel, OutcomeStatus
from services.channels.adapters.fakes import FakeSms
from services.channels.adapters.twilio_sms import TwilioSms
from services.channels.drivers import SmsDriver
from services.channels.ledger import LedgerEntry, LedgerState
from services.channels.outcomes import outcome
from services.channels.ports import Sms, SmsReceipt
from services.channels.settings import ChannelsSettings
from services.core.settings import DEPLOY_DIR
from services.messaging.links import LinkSigner
from services.messaging.templates import TemplateBook
from tests.channels_support import START, approval
from tests.support import APPROVAL_PUBLIC_KEY

KEYS = [SecretStr("a-link-signing-key-for-tests-0001")]
SETTINGS = ChannelsSettings(
    webhooks_base_url="https://hooks.bank.example/",
    link_signing_keys=KEYS,
    approval_keys=[APPROVAL_PUBLIC_KEY],
    sms_from="+15550009000",
    voice_from="+15550009001",
)

SMS = Sms("+14155550100", "+15550009000", "您" * 71, "https://hooks.bank.example/x")
CREATED = {"sid": "SM1", "status": "queued", "num_segments": "3", "price": None, "price_unit": "USD"}


class _Rest:
    """Twilio's answers, as the REST client hands them over."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    async def create(self, resource: str, form: list[tuple[str, str]]) -> dict[str, Any]:
        return self.answer

    async def list(self, resource: str, query: dict[str, str]) -> list[dict[str, Any]]:
        return [{**self.answer, "to": SMS.to, "from": SMS.from_, "body": SMS.body}]


async def test_the_segments_are_twilios_count_not_ours() -> None:
    receipt = await TwilioSms(_Rest(CREATED)).send(SMS)  # type: ignore[arg-type]
    assert (receipt.segments, receipt.price, receipt.price_unit) == (3, None, "")


@pytest.mark.parametrize(
    ("price", "unit", "reported"),
    [
        ("-0.02370", "USD", (Decimal("0.02370"), "USD")),  # a debit, five decimals
        ("-0.06", "eur", (Decimal("0.06"), "EUR")),
        (None, "USD", (None, "")),  # not priced yet
        ("", "USD", (None, "")),
        ("-0.02", "", (None, "")),  # a charge in no known unit is no charge reported
        ("NaN", "USD", (None, "")),
    ],
)
async def test_twilios_charge_is_read_when_it_reports_one(
    price: str | None, unit: str, reported: tuple[Decimal | None, str]
) -> None:
    rest = _Rest({**CREATED, "price": price, "price_unit": unit})
    receipt = await TwilioSms(rest).send(SMS)  # type: ignore[arg-type]
    [found] = await TwilioSms(rest).sent_to(SMS.to, date(2026, 6, 10))  # type: ignore[arg-type]
    assert (receipt.price, receipt.price_unit) == (found.price, found.price_unit) == reported


class _PricedSms(FakeSms):
    def __init__(self, receipt: SmsReceipt) -> None:
        super().__init__()
        self.receipt = receipt

    async def send(self, sms: Sms) -> SmsReceipt:
        return self.receipt


def driver(receipt: SmsReceipt) -> SmsDriver:
    return SmsDriver(
        _PricedSms(receipt), TemplateBook.load(DEPLOY_DIR / "templates"), LinkSigner(KEYS), SETTINGS
    )


async def test_an_outcome_carries_twilios_segments_and_charge_when_it_reports_them() -> None:
    sms = approval("d-1", "r-1", "+14155550100")
    priced = driver(SmsReceipt("SM1", OutcomeStatus.SENT, 3, Decimal("0.02370"), "EUR"))
    result = await priced.send(priced.prepare(sms, START))
    event = outcome(sms, result, provider="twilio", currency=SETTINGS.price_currency, now=START)
    assert (event.segments, event.cost, event.cost_currency) == (3, Decimal("0.0237"), "EUR")


async def test_an_unpriced_send_costs_the_estimate_in_the_configured_currency() -> None:
    sms = approval("d-1", "r-1", "+14155550100")
    unpriced = driver(SmsReceipt("SM1", OutcomeStatus.SENT, 3))
    result = await unpriced.send(unpriced.prepare(sms, START))
    event = outcome(sms, result, provider="twilio", currency="USD", now=START)
    assert (event.segments, event.cost, event.cost_currency) == (3, 3 * SETTINGS.sms_price_per_segment, "USD")


async def test_a_charge_finer_than_the_contract_is_rounded_to_its_four_places() -> None:
    sms = approval("d-1", "r-1", "+14155550100")
    priced = driver(SmsReceipt("SM1", OutcomeStatus.SENT, 1, Decimal("0.00645"), "USD"))
    result = await priced.send(priced.prepare(sms, START))
    assert outcome(sms, result, provider="twilio", currency="USD", now=START).cost == Decimal("0.0064")


def test_the_ledger_keeps_the_charges_currency_to_publish_the_outcome_again() -> None:
    entry = LedgerEntry(
        request_id="r-1",
        channel=Channel.SMS,
        state=LedgerState.SENT,
        destination=SMS.to,
        claimed_at=START,
        valid_until=START,
        outcome=OutcomeStatus.SENT,
        segments=3,
        cost=Decimal("0.0237"),
        cost_currency="EUR",
    )
    again = LedgerEntry.model_validate_json(entry.model_dump_json()).result()
    assert again is not None and (again.cost, again.cost_currency) == (Decimal("0.0237"), "EUR")
