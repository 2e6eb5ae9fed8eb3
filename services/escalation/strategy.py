"""Strategies as data: segments, ladders of steps, retries, channel fallback, escalation thresholds, arms.

A strategy is a TOML file under ``deploy/strategies/`` (see docs/strategies.md), validated here at start-up:
a bad file fails with the file and field named. Everything in this module is pure.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.events import EscalationKind
from schemas.values import Currency, Money, check_minor_units
from schemas.vocab import Channel, OutcomeStatus
from services.core.settings import load_toml

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]


def _states_its_currency(value: object) -> object:
    # A bare amount would compare 10,000 CNY with 10,000 USD: refused, with the form that is meant.
    if not isinstance(value, dict):
        raise ValueError(
            'a balance threshold states its currency: a table such as { USD = "10000", GBP = "8000" }'
        )
    for currency, amount in value.items():
        # A TOML number is refused like a JSON one (schemas.values.Money); Python code may pass a Decimal.
        if not isinstance(amount, str | Decimal):
            raise ValueError(f'{currency}: an amount is a decimal string such as "10000", not a number')
    return value


def _in_minor_units(value: dict[str, Decimal]) -> dict[str, Decimal]:
    for currency, amount in value.items():
        check_minor_units(currency, **{f"the {currency} amount": amount})
    return value


Threshold = Annotated[
    dict[Currency, Money],
    BeforeValidator(_states_its_currency),
    Field(min_length=1),
    AfterValidator(_in_minor_units),
]
"""An amount per ISO 4217 currency (``{ USD = "10000", CNY = "70000" }``). Accounts are compared only with
the amount of their own currency; there is no conversion."""


def at_least(threshold: dict[str, Decimal] | None, balance: Decimal, currency: str) -> bool:
    """``balance`` (in ``currency``) is at or above ``threshold``. No threshold: true. A threshold without an
    amount in ``currency``: false, so a rule or segment never applies to a currency it does not name."""
    if threshold is None:
        return True
    return currency in threshold and balance >= threshold[currency]


def at_most(threshold: dict[str, Decimal] | None, balance: Decimal, currency: str) -> bool:
    """``balance`` is at or below ``threshold``, under the same rule for a currency it does not name."""
    if threshold is None:
        return True
    return currency in threshold and balance <= threshold[currency]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Retry(_Strict):
    """Try the same step again after these outcomes (e.g. voice no_answer: next day, up to twice)."""

    on: list[OutcomeStatus] = Field(min_length=1)
    after_hours: int = Field(ge=1, le=24 * 14)
    max: int = Field(ge=1, le=10)


class Step(_Strict):
    """One rung of a ladder. It is due at ``at_dpd`` days past due, or ``after_days`` after the previous
    step was requested, at the strategy's send hour in the debtor's zone."""

    name: Name
    channel: Channel
    template: Name
    at_dpd: int | None = Field(default=None, ge=0, le=3650)
    after_days: int | None = Field(default=None, ge=0, le=365)
    expires_hours: int = Field(default=48, ge=1, le=24 * 30)
    retry: Retry | None = None
    arms: list[Name] = []  # empty: every arm
    resume_after_broken_promise: bool = False  # the "stronger step" a broken promise resumes at

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        if (self.at_dpd is None) == (self.after_days is None):
            raise ValueError("exactly one of at_dpd and after_days must be given")
        return self


class Segment(_Strict):
    """Which accounts the ladder is for; the first segment that matches an account wins."""

    name: Name
    min_dpd: int = Field(default=1, ge=0)
    max_dpd: int = Field(default=100_000, ge=0)
    # Per currency; an account in a currency a bound does not name is not in the segment.
    min_balance: Threshold | None = None
    max_balance: Threshold | None = None
    min_risk: float = Field(default=0.0, ge=0, le=1)
    max_risk: float = Field(default=1.0, ge=0, le=1)
    products: list[str] = []  # empty: every product
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.min_dpd > self.max_dpd:
            raise ValueError("min_dpd is above max_dpd")
        if self.steps[0].at_dpd is None:
            raise ValueError("the first step needs at_dpd")
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within a segment")
        for currency, low in (self.min_balance or {}).items():
            high = (self.max_balance or {}).get(currency)
            if high is not None and low > high:
                raise ValueError(f"min_balance.{currency} is above max_balance.{currency}")
        return self

    def matches(self, dpd: int, balance: Decimal, currency: str, risk: float | None, product: str) -> bool:
        return (
            self.min_dpd <= dpd <= self.max_dpd
            and at_least(self.min_balance, balance, currency)
            and at_most(self.max_balance, balance, currency)
            and (risk is None or self.min_risk <= risk <= self.max_risk)
            and (not self.products or product in self.products)
        )


class EscalationRule(_Strict):
    """Hand a case to people: legal at DPD X, agency at DPD Y, field visit above a balance, restructuring
    after K broken promises or on hardship. ``stops_outreach`` ends automated contact for the account.
    ``min_balance`` holds for every trigger: with one, the rule fires only for an account whose outstanding
    balance reaches the amount stated for its currency, never for a currency the table does not name."""

    kind: EscalationKind
    at_dpd: int | None = Field(default=None, ge=1)
    min_balance: Threshold | None = None
    after_broken_promises: int | None = Field(default=None, ge=1)
    on_hardship: bool = False
    stops_outreach: bool = False

    @model_validator(mode="after")
    def _has_trigger(self) -> Self:
        if self.at_dpd is None and self.after_broken_promises is None and not self.on_hardship:
            raise ValueError("needs a trigger: at_dpd, after_broken_promises or on_hardship")
        return self

    def reached_by(self, balance: Decimal, currency: str) -> bool:
        """The account's outstanding ``balance`` in ``currency`` meets the rule's balance threshold."""
        return at_least(self.min_balance, balance, currency)


class EmergencyContactRule(_Strict):
    """When ``after_failed_calls`` calls in a row to the debtor's own numbers went unanswered, ask once per
    cycle to send ``template`` to an emergency contact the debtor gave, on ``channel``. The gatekeeper
    decides: only packs that allow third parties (China, while the debtor is unreachable) let it through, and
    only with a template tagged ``limited_content`` (it says nothing of the debt)."""

    template: Name = "callback_request"
    channel: Channel = Channel.SMS
    after_failed_calls: int = Field(default=3, ge=1, le=20)


class Arm(_Strict):
    name: Name
    share: float = Field(gt=0, le=100)


class Experiment(_Strict):
    """Champion/challenger: a debtor's arm comes from a stable hash of debtor id and experiment name."""

    name: Name
    arms: list[Arm] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares(self) -> Self:
        if abs(sum(a.share for a in self.arms) - 100) > 1e-9:
            raise ValueError("arm shares must add up to 100")
        if len({a.name for a in self.arms}) != len(self.arms):
            raise ValueError("arm names must be unique")
        return self

    def arm_for(self, debtor_id: str) -> str:
        digest = hashlib.sha256(f"{self.name}\x1f{debtor_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * 100
        cumulative = 0.0
        for arm in self.arms:
            cumulative += arm.share
            if point < cumulative:
                return arm.name
        return self.arms[-1].name


class Strategy(_Strict):
    strategy: Name
    version: Annotated[str, Field(min_length=1, max_length=32)]
    description: str = ""
    send_hour: int = Field(default=9, ge=0, le=23)
    default_timezone: str = "UTC"
    promise_grace_days: int = Field(default=2, ge=0, le=30)
    hardship_pause_days: int = Field(default=30, ge=0, le=365)
    plan_instalments: list[int] = Field(default=[3, 6, 12], min_length=1)
    fallback: list[Channel] = Field(default=[Channel.SMS, Channel.EMAIL, Channel.VOICE], min_length=1)
    experiment: Experiment = Experiment(name="none", arms=[Arm(name="champion", share=100)])
    escalations: list[EscalationRule] = []
    # The forbearance offer sent when the gatekeeper requires one before legal action or an agency placement
    # (EU Consumer Credit Directive art. 35); its template must be tagged forbearance_offer.
    forbearance_template: Name = "restructuring_offer"
    emergency_contact: EmergencyContactRule | None = None
    segments: list[Segment] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ZoneInfo(self.default_timezone)
        arms = {a.name for a in self.experiment.arms}
        for s_index, segment in enumerate(self.segments):
            for index, step in enumerate(segment.steps):
                unknown = set(step.arms) - arms
                if unknown:
                    raise ValueError(
                        f"segments[{s_index}].steps[{index}].arms: unknown arms {sorted(unknown)}"
                    )
        return self

    def segment_for(
        self, dpd: int, balance: Decimal, currency: str, risk: float | None, product: str
    ) -> Segment | None:
        for segment in self.segments:
            if segment.matches(dpd, balance, currency, risk, product):
                return segment
        return None

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def templates(self) -> set[tuple[Channel, str]]:
        """Every (channel, template) a request of this strategy can name, fallbacks included."""
        return {
            (channel, step.template)
            for seg in self.segments
            for step in seg.steps
            for channel in {step.channel, *self.fallback}
        }


def load_strategy(path: Path) -> Strategy:
    """Read and validate one strategy file; raises ``ConfigError`` naming the file and field."""
    return load_toml(path, Strategy)


def steps_for(segment: Segment, arm: str) -> list[Step]:
    """The ladder as this arm sees it."""
    return [step for step in segment.steps if not step.arms or arm in step.arms]


def send_instant(day: date, strategy: Strategy, zone: ZoneInfo) -> datetime:
    """The instant a step due on local ``day`` is requested; the gatekeeper fits it into allowed hours."""
    return datetime.combine(day, time(strategy.send_hour), tzinfo=zone)


def step_day(step: Step, due_date: date, previous: datetime | None, zone: ZoneInfo) -> date:
    """The local day a step falls due: ``at_dpd`` days after the due date, or ``after_days`` after the
    previous step was requested."""
    if step.at_dpd is not None:
        return due_date + timedelta(days=step.at_dpd)
    assert step.after_days is not None
    base = previous.astimezone(zone).date() if previous is not None else due_date
    return base + timedelta(days=step.after_days)
