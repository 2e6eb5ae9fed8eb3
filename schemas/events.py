"""The event contract: every record on every topic is one of these frozen pydantic models.

Events from core banking ignore fields they do not know (a core banking release that adds a field
must not dead-letter every event); the platform's own events and commands forbid them. Money is a
``Decimal`` with an ISO 4217 ``currency`` beside it, never a float. Every time is timezone-aware.
Every event names the debtor it is about: records are keyed by ``debtor_id``.
"""

from __future__ import annotations

import contextlib
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from schemas.values import (
    EDGE,
    Address,
    Currency,
    InvalidValue,
    Money,
    Price,
    check_minor_units,
    email_address,
    known_zone,
    phone_e164,
    region_of,
)
from schemas.vocab import (
    Channel,
    DeadLetterReason,
    DecisionKind,
    FailureKind,
    OutcomeStatus,
    ReasonCode,
    Relation,
    RequestKind,
)

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


_T = TypeVar("_T")


def _no_duplicates(items: list[_T]) -> list[_T]:
    if len(set(items)) != len(items):
        raise ValueError("duplicate entries")
    return items


class _Inbound(BaseModel):
    """An event published by core banking: tolerant of fields added by later releases."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    debtor_id: Id


class _Priced(BaseModel):
    """An event whose amounts are money in its ``currency``: none may have more decimals than the
    currency's minor units (``245.67000000`` is 245.67, allowed in USD; ``250.50`` is refused in JPY)."""

    _money: ClassVar[tuple[str, ...]]

    @model_validator(mode="after")
    def _fits_its_currency(self) -> Self:
        check_minor_units(
            getattr(self, "currency"),  # noqa: B009 (every priced event has one)
            **{name: getattr(self, name) for name in self._money},
        )
        return self


class _Internal(BaseModel):
    """An event or command of the platform itself: unknown fields are a bug, so they are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    debtor_id: Id


# ---------------------------------------------------------------------------------------------
# From core banking (collections.account.v1)


class AccountOverdue(_Priced, _Inbound):
    """An account is overdue at the end of a business day (published daily while it stays overdue)."""

    _money = ("amount_due", "total_outstanding")
    account_id: Id
    product: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    currency: Currency
    amount_due: Money
    total_outstanding: Money
    days_past_due: Annotated[int, Field(ge=1, le=100_000)]
    due_date: date
    risk_score: Annotated[float, Field(ge=0, le=1)] | None = None
    as_of: AwareDatetime


class PaymentPosted(_Priced, _Inbound):
    """Core banking booked a payment; ``outstanding_after`` zero means paid in full."""

    _money = ("amount", "outstanding_after")
    account_id: Id
    payment_id: Id
    currency: Currency
    amount: Money
    outstanding_after: Money
    posted_at: AwareDatetime

    @property
    def paid_in_full(self) -> bool:
        return self.outstanding_after == 0


class PaymentReversed(_Priced, _Inbound):
    """Core banking undid a payment it had posted (bounced, keyed in error): ``payment_id`` is that
    PaymentPosted's. What the account owes after it comes with the next overdue or status event."""

    _money = ("amount",)
    account_id: Id
    payment_id: Id
    currency: Currency
    amount: Money
    reversed_at: AwareDatetime


class PromiseSource(StrEnum):
    CORE_BANKING = "core_banking"
    AGENT = "agent"
    VOICE_KEYPAD = "voice_keypad"
    SMS_REPLY = "sms_reply"
    WEB = "web"


class PromiseToPayRecorded(_Priced, _Inbound):
    """A dated promise of an amount. Core banking publishes it, and so does the platform when a
    debtor promises on the voice menu (then it goes back to core banking too)."""

    _money = ("amount",)
    account_id: Id
    promise_id: Id
    currency: Currency
    amount: Money
    promised_date: date
    source: PromiseSource
    recorded_at: AwareDatetime


class AccountStatus(StrEnum):
    CURED = "cured"
    CLOSED = "closed"
    CHARGED_OFF = "charged_off"
    RESTRUCTURED = "restructured"
    BANKRUPTCY = "bankruptcy"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"
    HARDSHIP = "hardship"


class AccountStatusChanged(_Inbound):
    account_id: Id
    status: AccountStatus
    effective_at: AwareDatetime


class ContactPointType(StrEnum):
    PHONE = "phone"
    EMAIL = "email"


class ContactPoint(BaseModel):
    """A phone number or email address, with the channels the debtor consented to on it. The address is
    kept normalized: a phone in E.164 (a national number is read in the region of the debtor's first
    jurisdiction), an email in lower case. A number or address that does not parse is refused."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    type: ContactPointType
    address: Annotated[
        str,
        StringConstraints(min_length=3, max_length=254),
        Field(
            description="A phone number (E.164, or national in the debtor's first jurisdiction) or an email "
            "address, by type. Checked by the model only: a valid phone number (phonenumbers) or email "
            "address (email-validator)."
        ),
    ]
    consents: Annotated[
        list[Channel],
        AfterValidator(_no_duplicates),
        Field(
            description="Channels consented to on this address. Checked by the model only: duplicate "
            "consents are refused."
        ),
    ] = []
    label: str | None = None
    # Whose point it is: the debtor's own (default), a guarantor's, an emergency contact the debtor gave, or
    # anyone else's. Packs decide whether a third party may be contacted at all (China: an emergency contact
    # only while the debtor is unreachable, with a template that says nothing of the debt).
    relation: Relation = Relation.SELF

    @model_validator(mode="after")
    def _normalized(self) -> ContactPoint:
        # An international number or an address is normalized here; a national number, or one that does
        # not parse, is left as given for its profile, which reads it in the debtor's region or drops it.
        with contextlib.suppress(InvalidValue):
            object.__setattr__(self, "address", _normal(self, None))
        return self


class LocalWindow(BaseModel):
    """A daily window of local time, half-open: [start, end)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    start: time
    end: time


class KnowledgeFactorKind(StrEnum):
    """What the debtor may be asked to prove who they are in the self-service portal."""

    DATE_OF_BIRTH = "date_of_birth"
    POSTCODE = "postcode"
    ACCOUNT_LAST4 = "account_last4"


class KnowledgeFactor(BaseModel):
    """A fact only the debtor should know, carried as a keyed hash, never in clear:
    ``hex(HMAC-SHA256(bank key, "<kind>\\n<normalized value>"))`` (``schemas.verification`` normalizes and
    hashes). ``key_id`` names the bank key it was made with, so keys can rotate."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: KnowledgeFactorKind
    hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    key_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "default"


class DebtorProfileUpdated(_Inbound):
    """A full snapshot of the debtor's profile; consumers keep the newest by ``ce_time``, and a hard-stop
    flag whatever its time (it is lifted only by a newer profile without it).

    The publish command refuses a profile with any invalid value. A consumer keeps a profile with a bad
    contact point or time zone, and its flags: the bad value is dropped (``dropped`` counts them), because
    discarding the whole profile could lose a hard stop."""

    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    contact_points: list[ContactPoint] = []
    timezone: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=64),
            Field(
                description="An IANA time zone such as America/New_York. Checked by the model only: the zone "
                "must be known to the platform's tz database."
            ),
        ]
        | None
    ) = None
    language: Language = "en-US"
    jurisdictions: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]] = []
    flags: list[str] = []
    inconvenient: list[LocalWindow] = []
    knowledge_factors: Annotated[
        list[KnowledgeFactor],
        Field(
            description="Optional. Keyed hashes of facts the debtor knows (date of birth, postcode, last 4 "
            "digits of the account) for the self-service portal's verification; at most one per kind is used."
        ),
    ] = []
    _dropped: int = PrivateAttr(default=0)

    @property
    def dropped(self) -> int:
        """Contact points and time zones a consumer dropped because they did not parse."""
        return self._dropped

    @model_validator(mode="after")
    def _keep_what_protects(self, info: ValidationInfo) -> DebtorProfileUpdated:
        strict = bool((info.context or {}).get(EDGE))
        region = next((r for r in map(region_of, self.jurisdictions) if r), None)
        problems: list[str] = []
        kept: list[ContactPoint] = []
        for index, point in enumerate(self.contact_points):
            try:
                kept.append(point.model_copy(update={"address": _normal(point, region)}))
            except InvalidValue as exc:
                problems.append(f"contact_points[{index}]: {exc}")
        zone = self.timezone
        if zone is not None and not known_zone(zone):
            problems.append(f"timezone: unknown time zone {zone[:64]!r}")
            zone = None
        if strict and problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "contact_points", kept)
        object.__setattr__(self, "timezone", zone)
        self._dropped = len(problems)
        return self


def _normal(point: ContactPoint, region: str | None) -> str:
    """The point's address normalized: a phone in E.164 (a national one read in ``region``), an email in
    lower case; ``InvalidValue`` if it does not parse."""
    if point.type is ContactPointType.PHONE:
        return phone_e164(point.address, region)
    return email_address(point.address)


# ---------------------------------------------------------------------------------------------
# Inside the platform


class ContactRequested(_Internal):
    """Escalation asks the gatekeeper for one contact. ``request_id`` is deterministic."""

    request_id: Id
    account_id: Id
    channel: Channel
    destination: Address
    template: Id
    language: Language = "en-US"
    kind: RequestKind = RequestKind.OUTREACH
    strategy: Id
    strategy_version: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    arm: Id
    step: Annotated[str, StringConstraints(max_length=64)] = ""
    variables: dict[str, str] = {}
    not_before: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    requested_at: AwareDatetime


class CancelReason(StrEnum):
    PROMISE_TO_PAY = "promise_to_pay"
    CURED = "cured"
    DISPUTE = "dispute"
    PAID = "paid"
    CLOSED = "closed"
    OPERATOR = "operator"
    RESTRUCTURED = "restructured"
    HARDSHIP = "hardship"
    BANKRUPTCY = "bankruptcy"
    HANDED_OFF = "handed_off"


class ContactCancelled(_Internal):
    """Withdraw pending requests of an account (all of them when ``request_ids`` is empty)."""

    account_id: Id
    request_ids: list[Id] = []
    reason: CancelReason
    cancelled_at: AwareDatetime


class ContactApproved(_Internal):
    """The gatekeeper's permission for exactly one send, valid until ``valid_until``."""

    request_id: Id
    decision_id: Id
    account_id: Id
    channel: Channel
    destination: Address
    template: Id
    language: Language
    kind: RequestKind
    variables: dict[str, str] = {}
    strategy: Id
    strategy_version: str
    arm: Id
    approved_at: AwareDatetime
    valid_until: AwareDatetime


class EscalationKind(StrEnum):
    LEGAL = "legal"
    AGENCY_PLACEMENT = "agency_placement"
    FIELD_VISIT = "field_visit"
    RESTRUCTURING_OFFER = "restructuring_offer"
    BANKRUPTCY_REVIEW = "bankruptcy_review"


class ComplianceDecision(_Internal):
    """One decision on one request, with everything an auditor needs to re-check it."""

    decision_id: Id
    request_id: Id
    account_id: Id
    channel: Channel | None = None  # none for an escalation
    escalation: EscalationKind | None = None  # the kind, for an escalation
    decision: DecisionKind
    reasons: list[ReasonCode] = []
    rules: list[str] = []
    not_before: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    pack_versions: dict[str, str] = {}
    strategy: str = ""
    arm: str = ""
    decided_at: AwareDatetime


class ContactOutcome(_Internal):
    """What happened to one request: approval, provider response, callback, or final state."""

    outcome_id: Id
    request_id: Id
    account_id: Id
    channel: Channel
    status: OutcomeStatus
    final: bool = False
    provider: str = ""
    provider_ref: str = ""
    error_code: str | None = None  # the provider's own code, for people; consumers act on ``failure``
    failure: FailureKind | None = None
    reasons: list[ReasonCode] = []  # why the gatekeeper blocked or expired it
    detail: Annotated[str, StringConstraints(max_length=500)] = ""
    segments: Annotated[int, Field(ge=0)] = 0
    duration_seconds: Annotated[int, Field(ge=0)] = 0
    cost: Price = Decimal(0)
    cost_currency: Currency = "USD"
    strategy: str = ""
    arm: str = ""
    occurred_at: AwareDatetime


class ConsentChange(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class ConsentSource(StrEnum):
    SMS_REPLY = "sms_reply"
    EMAIL_UNSUBSCRIBE = "email_unsubscribe"
    PROVIDER = "provider"
    VOICE_KEYPAD = "voice_keypad"
    AGENT = "agent"
    CORE_BANKING = "core_banking"


class ConsentChanged(_Internal):
    """The debtor opted out of (or back into) one channel on one contact point."""

    address: Address
    channel: Channel
    change: ConsentChange
    source: ConsentSource
    occurred_at: AwareDatetime


class WrongPartySource(StrEnum):
    PORTAL = "portal"


class WrongPartyReported(_Internal):
    """Whoever holds this contact point said it is not the debtor's ("this is not me"): the point is never
    used again for this debtor, whatever later profiles say; the debtor's other points are not affected."""

    address: Address
    source: WrongPartySource
    reported_at: AwareDatetime


class EscalationRaised(_Priced, _Internal):
    """A case leaves automated outreach for a person or process (back to core banking)."""

    escalation_id: Id
    account_id: Id
    _money = ("total_outstanding",)
    kind: EscalationKind
    reason: Annotated[str, StringConstraints(max_length=200)]
    days_past_due: Annotated[int, Field(ge=0)]
    currency: Currency
    total_outstanding: Money
    strategy: str = ""
    arm: str = ""
    raised_at: AwareDatetime


class EscalationRequested(_Priced, _Internal):
    """Escalation asks the gatekeeper whether a case may leave automated outreach (legal action, an agency
    placement, a field visit, a restructuring offer). Allowed, the gatekeeper raises the ``EscalationRaised``
    that carries the same id; deferred, it decides again when due; blocked, nothing is raised."""

    _money = ("total_outstanding",)
    request_id: Id  # also the id of the EscalationRaised it may lead to
    account_id: Id
    kind: EscalationKind
    reason: Annotated[str, StringConstraints(max_length=200)]
    days_past_due: Annotated[int, Field(ge=0)]
    currency: Currency
    total_outstanding: Money
    strategy: str = ""
    arm: str = ""
    not_before: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    requested_at: AwareDatetime


class ControlScope(StrEnum):
    ALL = "all"
    CHANNEL = "channel"
    TEMPLATE = "template"
    STRATEGY = "strategy"


class OutreachControlChanged(BaseModel):
    """Operator control: pause every request in scope (deferred with PAUSED), or resume them.

    Keyed by ``control_key`` on a compacted topic, so the newest state of each scope survives."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: ControlScope
    value: str = ""
    paused: bool
    operator: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Annotated[str, StringConstraints(max_length=200)] = ""
    at: AwareDatetime

    @property
    def control_key(self) -> str:
        return f"{self.scope.value}:{self.value}"


class DeadLetter(BaseModel):
    """A record some consumer could not read, kept byte for byte with the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source_topic: str
    source_partition: int
    source_offset: int
    consumer: str
    reason: DeadLetterReason
    error: Annotated[str, StringConstraints(max_length=4000)]
    key_b64: str | None
    value_b64: str | None
    headers: list[tuple[str, str]]
    failed_at: AwareDatetime


DEBTOR_EVENTS: tuple[type[BaseModel], ...] = (
    AccountOverdue,
    PaymentPosted,
    PaymentReversed,
    PromiseToPayRecorded,
    AccountStatusChanged,
    DebtorProfileUpdated,
    ContactRequested,
    ContactCancelled,
    ContactApproved,
    ComplianceDecision,
    ContactOutcome,
    ConsentChanged,
    WrongPartyReported,
    EscalationRaised,
    EscalationRequested,
)
ALL_EVENTS: tuple[type[BaseModel], ...] = (*DEBTOR_EVENTS, OutreachControlChanged, DeadLetter)
