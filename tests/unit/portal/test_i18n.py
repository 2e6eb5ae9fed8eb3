"""The portal's words: every language has every key, unknown languages fall back, money and dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.core.settings import ConfigError
from services.portal.i18n import MESSAGES, Locales

LOCALES = Locales.load()


def test_the_three_languages_load_with_the_same_words() -> None:
    assert set(LOCALES.locales) == {"en-US", "en-GB", "zh-CN"}
    assert LOCALES.get("en-GB").words["postcode"] == "Postcode"
    assert LOCALES.get("en-US").words["postcode"] == "ZIP code"


def test_an_unknown_language_falls_back_by_its_primary_subtag_then_to_en_us() -> None:
    assert LOCALES.get("zh-TW").language == "zh-CN"
    assert LOCALES.get("en-AU").language == "en-GB"  # the first English one, day before month
    assert LOCALES.get("fr-FR").language == "en-US"


def test_money_and_dates_in_each_language() -> None:
    day = date(2026, 3, 7)
    assert (LOCALES.get("en-US").day(day), LOCALES.get("en-GB").day(day)) == ("03/07/2026", "07/03/2026")
    assert LOCALES.get("zh-CN").day(day) == "2026年03月07日"
    assert LOCALES.get("en-US").money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert LOCALES.get("en-GB").money(Decimal("12"), "GBP") == "£12.00"
    assert LOCALES.get("en-US").money(Decimal("1000"), "JPY") == "JPY 1,000.00"


def test_a_language_missing_a_word_is_refused(tmp_path: Path) -> None:
    for name in ("en-US", "zh-CN"):
        (tmp_path / f"{name}.toml").write_text((MESSAGES / f"{name}.toml").read_text(encoding="utf-8"))
    broken = (tmp_path / "zh-CN.toml").read_text(encoding="utf-8").replace('sign_out = "退出"\n', "")
    (tmp_path / "zh-CN.toml").write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"zh-CN\.toml: missing sign_out"):
        Locales.load(tmp_path)
