"""Exchange rates as data, so that money booked in several currencies can be added up in one: a rates file
(``deploy/fx/rates.toml``) gives, per currency, the rate into the file's currency from the date each applies.
An amount converts at the newest rate dated on or before the amount's own date; there is no other rule."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.core.settings import DEPLOY_DIR, REPO_ROOT, ConfigError, load_toml

SHIPPED_RATES = DEPLOY_DIR / "fx" / "rates.toml"
_CONVERTED = Decimal("0.0001")
_CROSS = Decimal("0.0000000001")

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Rate = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=10)]


def shown(path: Path) -> str:
    """A path as the report names it: relative to the repository when inside it, so reports do not carry
    the machine's directory layout."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


class RateFile(BaseModel):
    """The rates file: ``currency`` is what every rate converts into (one unit of the listed currency buys
    ``rate`` units of it), ``rates`` maps each currency to its dated rates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: Currency
    source: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    max_age_days: Annotated[int, Field(ge=1, le=3660)] | None = None
    rates: dict[Currency, Annotated[dict[date, Rate], Field(min_length=1)]]

    @model_validator(mode="after")
    def _not_itself(self) -> Self:
        if self.currency in self.rates:
            raise ValueError(
                f"rates.{self.currency}: the file's own currency converts at 1 and takes no rates"
            )
        return self


class MissingRateError(ConfigError):
    """An amount's currency has no rate dated on or before the amount (or only one older than allowed)."""


@dataclass(frozen=True, slots=True)
class UsedRate:
    """The rate one conversion applied: into the reporting currency, dated ``applies_from``."""

    currency: str
    applies_from: date
    rate: Decimal


@dataclass(frozen=True)
class Fx:
    """Converts amounts into ``currency``, the reporting currency. When it differs from the file's currency
    the rate is the cross rate through the file's currency, each leg dated on or before the amount."""

    table: RateFile
    source: str
    currency: str
    _dates: dict[str, list[date]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.currency != self.table.currency and self.currency not in self.table.rates:
            known = ", ".join(sorted([self.table.currency, *self.table.rates]))
            raise ConfigError(
                f"{self.source}: no rates for reporting currency {self.currency} (known: {known})"
            )
        object.__setattr__(self, "_dates", {c: sorted(r) for c, r in self.table.rates.items()})

    @classmethod
    def load(cls, path: Path = SHIPPED_RATES, currency: str | None = None) -> Fx:
        """Read and validate a rates file; a bad one raises ``ConfigError`` naming the file and the field."""
        table = load_toml(path, RateFile)
        return cls(table, shown(path), currency or table.currency)

    @classmethod
    def of(cls, table: RateFile, currency: str | None = None, source: str = "rates given") -> Fx:
        return cls(table, source, currency or table.currency)

    def rate(self, currency: str, on: date) -> UsedRate:
        """The rate converting ``currency`` into the reporting currency for an amount dated ``on``."""
        if currency == self.currency:
            return UsedRate(currency, on, Decimal(1))
        into_file = self._leg(currency, on)
        if self.currency == self.table.currency:
            return into_file
        # Cross rate: both legs go through the file's currency; the later of the two dates is the one the
        # cross rate applies from.
        reporting = self._leg(self.currency, on)
        return UsedRate(
            currency,
            max(into_file.applies_from, reporting.applies_from),
            (into_file.rate / reporting.rate).quantize(_CROSS, ROUND_HALF_EVEN),
        )

    def convert(self, amount: Decimal, currency: str, on: date) -> Decimal:
        return self.apply(amount, self.rate(currency, on))

    @staticmethod
    def apply(amount: Decimal, rate: UsedRate) -> Decimal:
        """``amount`` at ``rate``, to 4 decimal places (the precision amounts have on the wire)."""
        return (amount * rate.rate).quantize(_CONVERTED, ROUND_HALF_EVEN)

    def _leg(self, currency: str, on: date) -> UsedRate:
        if currency == self.table.currency:
            return UsedRate(currency, date.min, Decimal(1))  # no date of its own: the other leg's applies
        dates = self._dates.get(currency)
        if not dates:
            raise MissingRateError(f"{self.source}: rates.{currency}: no {currency} rate (needed for {on})")
        index = bisect.bisect_right(dates, on) - 1
        if index < 0:
            raise MissingRateError(
                f"{self.source}: rates.{currency}: no {currency} rate on or before {on} "
                f"(the earliest is {dates[0]})"
            )
        applies = dates[index]
        limit = self.table.max_age_days
        if limit is not None and (on - applies).days > limit:
            raise MissingRateError(
                f"{self.source}: rates.{currency}: the newest {currency} rate on or before {on} is from "
                f"{applies}, older than max_age_days ({limit})"
            )
        return UsedRate(currency, applies, self.table.rates[currency][applies])
