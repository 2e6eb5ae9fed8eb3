"""The portal's words in each language (``templates/messages/<language>.toml``, every file with the same
keys) and how money and dates are written in it. A language the portal does not have falls back to the
first one with its primary subtag (``zh-TW`` to ``zh-CN``), then to ``en-US``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from services.core.settings import ConfigError

MESSAGES = Path(__file__).parent / "templates" / "messages"
DEFAULT = "en-US"
SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "CNY": "¥"}


@dataclass(frozen=True, slots=True)
class Locale:
    language: str
    words: dict[str, str]
    date_format: str
    symbol_first: bool = True

    def money(self, amount: Decimal, currency: str) -> str:
        symbol = SYMBOLS.get(currency)
        number = f"{amount:,.2f}" if amount == amount.quantize(Decimal("0.01")) else f"{amount:,}"
        if symbol is None:
            return f"{currency} {number}"
        return f"{symbol}{number}"

    def day(self, value: date | datetime) -> str:
        return value.strftime(self.date_format)


class Locales:
    def __init__(self, locales: dict[str, Locale]) -> None:
        self.locales = locales

    @classmethod
    def load(cls, folder: Path = MESSAGES, languages: list[str] | None = None) -> Locales:
        locales: dict[str, Locale] = {}
        for language in languages or [p.stem for p in sorted(folder.glob("*.toml"))]:
            path = folder / f"{language}.toml"
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{path}: {exc}") from exc
            fmt = raw.pop("date_format", "%Y-%m-%d")
            locales[language] = Locale(language, {k: str(v) for k, v in raw.items()}, str(fmt))
        if DEFAULT not in locales:
            raise ConfigError(f"{folder}: no {DEFAULT}.toml")
        expected = set(locales[DEFAULT].words)
        for language, locale in locales.items():
            missing = expected - set(locale.words)
            if missing:
                raise ConfigError(f"{folder / language}.toml: missing {', '.join(sorted(missing))}")
        return cls(locales)

    def get(self, language: str) -> Locale:
        if language in self.locales:
            return self.locales[language]
        primary = language.split("-")[0]
        same = [locale for name, locale in self.locales.items() if name.split("-")[0] == primary]
        return same[0] if same else self.locales[DEFAULT]
