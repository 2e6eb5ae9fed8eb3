"""Balance thresholds in strategies state their currency: refused at load without one, and compared only
with accounts of that currency."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.vocab import Channel
from services.core.settings import DEPLOY_DIR, ConfigError
from services.escalation.strategy import Segment, Step, at_least, at_most, load_strategy
from services.simulator.population import EU, REGIONS

STANDARD = DEPLOY_DIR / "strategies" / "standard.toml"
SHIPPED_LINE = 'min_balance = { USD = "10000", CNY = "70000", GBP = "8000", EUR = "9000" }'


def with_threshold(tmp_path: Path, line: str) -> Path:
    text = STANDARD.read_text(encoding="utf-8")
    assert SHIPPED_LINE in text
    path = tmp_path / "standard.toml"
    path.write_text(text.replace(SHIPPED_LINE, line), encoding="utf-8")
    return path


def test_the_shipped_field_visit_names_every_currency_the_simulated_bank_lends_in() -> None:
    rule = next(r for r in load_strategy(STANDARD).escalations if r.kind.value == "field_visit")
    assert rule.min_balance == {
        "USD": Decimal("10000"),
        "CNY": Decimal("70000"),
        "GBP": Decimal("8000"),
        "EUR": Decimal("9000"),
    }
    assert {region.currency for region in (*REGIONS, EU)} <= set(rule.min_balance)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('min_balance = "10000"', "a balance threshold states its currency"),
        ("min_balance = 10000", "a balance threshold states its currency"),
        ("min_balance = { USD = 10000 }", 'USD: an amount is a decimal string such as "10000"'),
        ('min_balance = { usd = "10000" }', "should match pattern '^[A-Z]{3}$'"),
        ('min_balance = { XYZ = "10000" }', "not an ISO 4217 currency"),
        ('min_balance = { USD = "10000.001" }', "more decimals than USD has minor units (2)"),
        ('min_balance = { JPY = "1000000.5" }', "more decimals than JPY has minor units (0)"),
        ('min_balance = { USD = "-5" }', "min_balance.USD"),
        ("min_balance = {}", "min_balance"),
    ],
)
def test_a_threshold_without_a_stated_currency_or_a_plain_amount_is_refused(
    tmp_path: Path, line: str, message: str
) -> None:
    path = with_threshold(tmp_path, line)
    with pytest.raises(ConfigError) as caught:
        load_strategy(path)
    assert str(caught.value).startswith(f"{path}: escalations[0].min_balance")
    assert message in str(caught.value)


def test_a_threshold_built_in_code_takes_decimals() -> None:
    large = segment(min_balance={"USD": Decimal("5000.00")})
    assert large.min_balance == {"USD": Decimal("5000")}
    with pytest.raises(ValueError, match="not a number"):
        segment(min_balance={"USD": 5000})
    with pytest.raises(ValueError, match="not a number"):
        segment(min_balance={"USD": 5000.0})


def test_thresholds_compare_only_within_a_currency() -> None:
    table = {"USD": Decimal("10000"), "CNY": Decimal("70000")}
    assert at_least(table, Decimal("10000"), "USD")
    assert not at_least(table, Decimal("10000"), "CNY")
    assert not at_least(table, Decimal("1000000"), "JPY")  # no threshold for the currency: never
    assert at_least(None, Decimal("0"), "JPY")  # no threshold at all: always
    assert at_most(table, Decimal("70000"), "CNY")
    assert not at_most(table, Decimal("5"), "GBP")
    assert at_most(None, Decimal("1e9"), "GBP")


def segment(**bounds: object) -> Segment:
    step = Step(name="s", channel=Channel.SMS, template="reminder", at_dpd=1)
    return Segment.model_validate({"name": "seg", "steps": [step], **bounds})


def test_a_segment_with_balance_bounds_holds_only_accounts_of_a_currency_it_names() -> None:
    large = segment(min_balance={"USD": "5000", "GBP": "4000"}, max_balance={"USD": "50000"})
    assert large.matches(10, Decimal("6000"), "USD", None, "personal_loan")
    assert not large.matches(10, Decimal("60000"), "USD", None, "personal_loan")
    # GBP names a lower bound and no upper one: the account is not in the segment.
    assert not large.matches(10, Decimal("6000"), "GBP", None, "personal_loan")
    assert not large.matches(10, Decimal("6000"), "CNY", None, "personal_loan")
    assert segment().matches(10, Decimal("6000"), "CNY", None, "personal_loan")


def test_a_segment_whose_bounds_cross_in_a_currency_is_refused() -> None:
    with pytest.raises(ValueError, match=r"min_balance\.USD is above max_balance\.USD"):
        segment(min_balance={"USD": "5000"}, max_balance={"USD": "4000"})
