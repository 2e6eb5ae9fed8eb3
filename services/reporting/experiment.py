"""The champion/challenger set-up a report checks the log against: the configured split (each arm's share)
and the strategy segment each step belongs to. Read from a strategy file (``deploy/strategies/*.toml``) by
this package itself, from the file's documented format, so that reporting imports nothing from escalation;
or given as shares (``--split champion=80,early-voice=20``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.core.settings import DEPLOY_DIR, ConfigError, load_toml
from services.reporting.fx import shown

SHIPPED_STRATEGY = DEPLOY_DIR / "strategies" / "standard.toml"
_HUNDRED = Decimal(100)

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _check_shares(shares: dict[str, Decimal], names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError("arm names must be unique")
    if sum(shares.values()) != _HUNDRED:
        raise ValueError(f"arm shares must add up to 100 (they add up to {sum(shares.values())})")


class _Read(BaseModel):
    """Only the fields a report needs; the rest of a strategy file is escalation's business."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _Arm(_Read):
    name: Name
    share: Annotated[Decimal, Field(gt=0, le=100)]


class _Experiment(_Read):
    name: Name
    arms: Annotated[list[_Arm], Field(min_length=1)]

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        _check_shares({a.name: a.share for a in self.arms}, [a.name for a in self.arms])
        return self


class _Step(_Read):
    name: Name


class _Segment(_Read):
    name: Name
    steps: list[_Step] = []


class StrategyFile(_Read):
    strategy: Name
    version: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    # A strategy without an experiment runs every debtor in one arm, "champion" (docs/strategies.md).
    experiment: _Experiment = _Experiment(name="none", arms=[_Arm(name="champion", share=_HUNDRED)])
    segments: list[_Segment] = []


@dataclass(frozen=True)
class Experiment:
    """Arms in their configured order (the first is the champion) with shares in percent adding up to 100,
    and ``segments`` mapping a step name to its segment's name."""

    source: str
    shares: dict[str, Decimal]
    strategy: str | None = None
    version: str | None = None
    name: str | None = None
    segments: dict[str, str] = field(default_factory=dict)

    @property
    def champion(self) -> str:
        return next(iter(self.shares))

    @classmethod
    def load(cls, path: Path = SHIPPED_STRATEGY) -> Experiment:
        """Read a strategy file; a bad one raises ``ConfigError`` naming the file and the field."""
        read = load_toml(path, StrategyFile)
        return cls(
            source=shown(path),
            shares={arm.name: arm.share for arm in read.experiment.arms},
            strategy=read.strategy,
            version=read.version,
            name=read.experiment.name,
            segments={step.name: segment.name for segment in read.segments for step in segment.steps},
        )

    @classmethod
    def parse_split(cls, text: str) -> dict[str, Decimal]:
        """``champion=80,early-voice=20`` as shares; bad input raises ``ConfigError`` saying what is wrong."""
        shares: dict[str, Decimal] = {}
        names: list[str] = []
        for part in text.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            try:
                share = Decimal(value.strip())
            except InvalidOperation:
                share = Decimal(0)
            if not sep or not name or not share.is_finite() or not 0 < share <= _HUNDRED:
                raise ConfigError(f"--split: {part.strip()!r} is not NAME=SHARE with 0 < SHARE <= 100")
            names.append(name)
            shares[name] = share
        try:
            _check_shares(shares, names)
        except ValueError as exc:
            raise ConfigError(f"--split: {exc}") from exc
        return shares

    def with_shares(self, shares: dict[str, Decimal], source: str) -> Experiment:
        return replace(self, shares=dict(shares), source=source)
