"""A seeded population of debtors and loans: jurisdictions, zones, languages, contact points, personas.

Everything here is pure and deterministic for a seed, so a demo run or a load test can be repeated exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from schemas import events as ev
from schemas.vocab import Channel, Relation


@dataclass(frozen=True, slots=True)
class Persona:
    """How a debtor reacts to contact. Probabilities are per contact unless noted."""

    name: str
    pays_after_contact: float  # pays (the instalment, sometimes everything) within a few days
    pays_in_full: float  # of those payments, the share that settles the whole balance
    promises: float  # calls the bank (or presses 1) and promises a date
    keeps_promise: float  # of those promises, the share kept
    replies_stop: float  # answers an SMS with STOP (or 退订)
    self_cure_daily: float  # pays without any contact, per day
    call_behaviour: str  # sandbox behaviour of their phone for calls: human, voicemail, no_answer, busy
    sms_behaviour: str = "ok"  # ok, invalid_number, opted_out, undelivered_30003
    bounces_email: bool = False


PERSONAS: tuple[tuple[Persona, float], ...] = (
    (Persona("prompt", 0.30, 0.40, 0.25, 0.90, 0.00, 0.010, "human"), 0.25),
    (Persona("forgetful", 0.15, 0.20, 0.20, 0.70, 0.01, 0.004, "voicemail"), 0.25),
    (Persona("struggling", 0.05, 0.05, 0.35, 0.35, 0.02, 0.001, "human"), 0.20),
    (Persona("avoider", 0.02, 0.10, 0.02, 0.30, 0.08, 0.0005, "no_answer"), 0.15),
    (Persona("busy", 0.10, 0.30, 0.10, 0.60, 0.01, 0.003, "busy"), 0.07),
    (
        Persona("wrong_number", 0.01, 0.50, 0.00, 0.00, 0.00, 0.002, "call_failed", "invalid_number", True),
        0.04,
    ),
    (Persona("opted_out_carrier", 0.08, 0.30, 0.10, 0.70, 0.00, 0.003, "voicemail", "opted_out"), 0.04),
)


@dataclass(frozen=True, slots=True)
class Region:
    jurisdictions: tuple[str, ...]
    timezone: str
    phone_prefix: str
    phone_digits: int  # digits after the "+" in E.164
    language: str
    currency: str
    share: float


REGIONS: tuple[Region, ...] = (
    Region(("US",), "America/New_York", "+1212", 11, "en-US", "USD", 0.15),
    Region(("US",), "America/Chicago", "+1312", 11, "en-US", "USD", 0.10),
    Region(("US",), "America/Denver", "+1303", 11, "en-US", "USD", 0.05),
    Region(("US",), "America/Los_Angeles", "+1213", 11, "en-US", "USD", 0.15),
    Region(("US", "US-MA"), "America/New_York", "+1617", 11, "en-US", "USD", 0.10),
    Region(("CN",), "Asia/Shanghai", "+86138", 13, "zh-CN", "CNY", 0.30),
    Region(("GB",), "Europe/London", "+447400", 12, "en-GB", "GBP", 0.15),
)
# A quarter of the debtors drawn in Europe live in the EU (Ireland): a few percent of the population, under
# the Consumer Credit Directive's pack (debt-advice referral, forbearance before enforcement).
EU = Region(("EU",), "Europe/Dublin", "+35386", 12, "en-IE", "EUR", 0.0)
EU_SHARE_OF_EUROPE = 0.25
# Chinese debtors who gave an emergency contact (a relative's number) with their loan application.
EMERGENCY_CONTACT_SHARE = 0.6

PRODUCTS = ("personal_loan", "credit_card", "auto_loan", "overdraft")


@dataclass(slots=True)
class Loan:
    account_id: str
    product: str
    currency: str
    outstanding: Decimal
    instalment: Decimal
    due_date: date  # the oldest unpaid instalment's due date
    risk_score: float
    settled: bool = False
    cured: bool = False

    def days_past_due(self, today: date) -> int:
        return (today - self.due_date).days


@dataclass(slots=True)
class Debtor:
    debtor_id: str
    name: str
    region: Region
    persona: Persona
    phone: str
    email: str | None
    consents: tuple[Channel, ...]
    loans: list[Loan] = field(default_factory=list)
    emergency_contact: str | None = None  # a third party's number the debtor gave (China)

    def profile(self) -> ev.DebtorProfileUpdated:
        points = [
            ev.ContactPoint(
                type=ev.ContactPointType.PHONE,
                address=self.phone,
                consents=[c for c in self.consents if c is not Channel.EMAIL],
            )
        ]
        if self.email:
            points.append(
                ev.ContactPoint(type=ev.ContactPointType.EMAIL, address=self.email, consents=[Channel.EMAIL])
            )
        if self.emergency_contact:
            points.append(
                ev.ContactPoint(
                    type=ev.ContactPointType.PHONE,
                    address=self.emergency_contact,
                    consents=[Channel.SMS],
                    relation=Relation.EMERGENCY_CONTACT,
                )
            )
        return ev.DebtorProfileUpdated(
            debtor_id=self.debtor_id,
            name=self.name,
            contact_points=points,
            timezone=self.region.timezone,
            language=self.region.language,
            jurisdictions=list(self.region.jurisdictions),
        )


_GIVEN = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn")
_FAMILY = ("Lee", "Smith", "Garcia", "Brown", "Patel", "Nguyen", "Walker", "Khan", "Miller", "Lopez")
_CN_NAMES = ("王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄勇", "周杰", "吴芳")


def generate(seed: int, size: int, start: date) -> list[Debtor]:
    """``size`` debtors with one loan each (one in five with two), 1 to 45 days past due at ``start``."""
    rng = random.Random(seed)
    debtors = []
    for index in range(size):
        region = rng.choices(REGIONS, weights=[r.share for r in REGIONS])[0]
        persona = rng.choices([p for p, _ in PERSONAS], weights=[w for _, w in PERSONAS])[0]
        debtor_id = f"D{index:06d}"
        free = region.phone_digits - (len(region.phone_prefix) - 1)
        phone = f"{region.phone_prefix}{rng.randrange(2 * 10 ** (free - 1), 10**free)}"
        name = (
            rng.choice(_CN_NAMES)
            if region.language == "zh-CN"
            else f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"
        )
        email = f"{debtor_id.lower()}@mail.example" if rng.random() < 0.85 else None
        consents = (Channel.SMS, Channel.VOICE, Channel.EMAIL) if rng.random() < 0.9 else (Channel.EMAIL,)
        # Drawn apart, so that the rest of the population stays what the seed made it before.
        aside = random.Random(f"{seed}:{debtor_id}")
        emergency = None
        if region.jurisdictions == ("GB",) and aside.random() < EU_SHARE_OF_EUROPE:
            region, phone = EU, f"{EU.phone_prefix}{aside.randrange(2_000_000, 10_000_000)}"
        elif region.jurisdictions == ("CN",) and aside.random() < EMERGENCY_CONTACT_SHARE:
            emergency = f"+86139{aside.randrange(20_000_000, 100_000_000)}"
        debtor = Debtor(debtor_id, name, region, persona, phone, email, consents, emergency_contact=emergency)
        for number in range(2 if rng.random() < 0.2 else 1):
            outstanding = Decimal(str(round(rng.lognormvariate(8.0, 0.8), 2))).quantize(Decimal("0.01"))
            instalment = (outstanding * Decimal(str(rng.uniform(0.05, 0.12)))).quantize(Decimal("0.01"))
            dpd = rng.choices(range(1, 46), weights=[3 if d <= 10 else 1 for d in range(1, 46)])[0]
            debtor.loans.append(
                Loan(
                    account_id=f"A{index:06d}{number}",
                    product=rng.choice(PRODUCTS),
                    currency=region.currency,
                    outstanding=outstanding,
                    instalment=max(instalment, Decimal("25.00")),
                    due_date=start - timedelta(days=dpd),
                    risk_score=round(rng.random(), 3),
                )
            )
        debtors.append(debtor)
    return debtors


def sandbox_faults(debtors: list[Debtor]) -> dict[str, str]:
    """The provider behaviour of every debtor's phone, for the Twilio sandbox's per-number fault table."""
    faults = {}
    for debtor in debtors:
        # One number has one behaviour in the sandbox; a message-only fault wins, calls then act normally.
        faults[debtor.phone] = (
            debtor.persona.sms_behaviour
            if debtor.persona.sms_behaviour != "ok"
            else debtor.persona.call_behaviour
        )
    return faults
