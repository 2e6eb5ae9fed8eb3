"""Dated exchange rates as data: the nearest earlier rate applies; a missing or bad rate is an error naming
the file, the field, the currency and the date."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from devtools.demo import START, Options
from services.core.settings import ConfigError
from services.reporting.fx import SHIPPED_RATES, Fx, MissingRateError

D = Decimal

RATES = """
currency = "USD"
source = "test rates"
max_age_days = 40

[rates.GBP]
2026-06-01 = "1.25"
2026-07-01 = "1.30"

[rates.CNY]
2026-06-01 = "0.14"
"""


@pytest.fixture
def fx(tmp_path: Path) -> Fx:
    path = tmp_path / "rates.toml"
    path.write_text(RATES)
    return Fx.load(path)


def test_the_nearest_earlier_rate_applies(fx: Fx) -> None:
    assert fx.convert(D("100"), "GBP", date(2026, 6, 30)) == D("125.0000")
    assert fx.convert(D("100"), "GBP", date(2026, 7, 1)) == D("130.0000")
    assert fx.rate("GBP", date(2026, 6, 15)).applies_from == date(2026, 6, 1)
    assert fx.convert(D("100"), "USD", date(2020, 1, 1)) == D("100")


def test_a_missing_rate_names_the_currency_and_the_date(fx: Fx) -> None:
    with pytest.raises(MissingRateError, match=r"rates\.GBP: no GBP rate on or before 2026-05-31"):
        fx.rate("GBP", date(2026, 5, 31))
    with pytest.raises(MissingRateError, match=r"rates\.JPY: no JPY rate \(needed for 2026-06-02\)"):
        fx.rate("JPY", date(2026, 6, 2))
    with pytest.raises(MissingRateError, match=r"CNY rate on or before 2026-07-12 is from 2026-06-01, older"):
        fx.rate("CNY", date(2026, 7, 12))
    assert issubclass(MissingRateError, ConfigError)  # the command exits 2 with that one line


def test_another_reporting_currency_uses_the_cross_rate(tmp_path: Path) -> None:
    path = tmp_path / "rates.toml"
    path.write_text(RATES)
    in_pounds = Fx.load(path, "GBP")
    assert in_pounds.convert(D("125"), "USD", date(2026, 6, 2)) == D("100.0000")
    assert in_pounds.rate("CNY", date(2026, 6, 2)).rate == D("0.112")
    with pytest.raises(ConfigError, match="no rates for reporting currency EUR"):
        Fx.load(path, "EUR")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (RATES.replace('"1.25"', '"-1"'), r"rates\.GBP\.2026-06-01: Input should be greater than 0"),
        (RATES.replace('2026-06-01 = "1.25"', '2026-13-01 = "1.25"'), r"rates\.GBP\.2026-13-01\.\[key\]"),
        (RATES.replace('currency = "USD"', 'currency = "usd"'), r"currency: String should match"),
        (RATES + '\n[rates.USD]\n2026-06-01 = "1"\n', r"rates\.USD: the file's own currency"),
        (RATES.replace('[rates.CNY]\n2026-06-01 = "0.14"', "[rates.CNY]"), r"rates\.CNY: .*at least 1"),
    ],
)
def test_a_bad_rates_file_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rates.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        Fx.load(path)
    assert str(raised.value).startswith(str(path))


def test_the_shipped_rates_cover_the_demo_and_the_tests() -> None:
    shipped = Fx.load(SHIPPED_RATES)
    assert shipped.currency == "USD"
    assert str(shipped.source) == "deploy/fx/rates.toml"
    for currency in ("CNY", "GBP", "EUR"):
        for day in (date(2026, 3, 2), date(2026, 5, 1), date(2026, 6, 21)):
            assert shipped.convert(D(1), currency, day) > 0
        # Every day the default demo plays, and the week after it in which its last promises are judged.
        for offset in range(Options.days + 8):
            assert shipped.convert(D(1), currency, START + timedelta(days=offset)) > 0
