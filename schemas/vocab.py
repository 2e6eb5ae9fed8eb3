"""Closed vocabularies shared by every event: channels, outcome statuses, decision reason codes.

Values are part of the wire contract: add members, never rename or remove them.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"


class RequestKind(StrEnum):
    """``outreach`` is a contact we initiate; ``reply`` is a message the debtor asked for; ``escalation`` asks
    the gatekeeper whether a case may leave automated outreach (legal action, agency placement, a field visit,
    a restructuring offer): it is decided, never sent on a channel."""

    OUTREACH = "outreach"
    REPLY = "reply"
    ESCALATION = "escalation"


class Relation(StrEnum):
    """Who a contact point reaches: the debtor, a guarantor of the debt, an emergency contact the debtor gave,
    or anyone else (a relative, an employer)."""

    SELF = "self"
    GUARANTOR = "guarantor"
    EMERGENCY_CONTACT = "emergency_contact"
    OTHER = "other"


class TemplateTag(StrEnum):
    """What a message template is fit for, declared in the template catalog and checked by the template lint.

    ``limited_content``: nothing in it reveals the debt (no amount, no creditor detail), so a third party may
    read or hear it. ``debt_advice``: it carries the referral to debt advice services. ``forbearance_offer``:
    it offers forbearance (a repayment plan, a restructuring). ``opt_out_confirmation``: the one text that
    confirms an opt-out, which a reply may still send on the channel just revoked (FCC, 47 CFR
    64.1200(a)(12)).
    """

    LIMITED_CONTENT = "limited_content"
    DEBT_ADVICE = "debt_advice"
    FORBEARANCE_OFFER = "forbearance_offer"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"


class OutcomeStatus(StrEnum):
    """The one status vocabulary for every contact attempt, whatever the channel or provider."""

    APPROVED = "approved"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    NOT_CONNECTED = "not_connected"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    CONVERSATION = "conversation"
    REPLIED = "replied"
    OPTED_OUT = "opted_out"
    AGENT_TRANSFER = "agent_transfer"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class FailureKind(StrEnum):
    """Why a contact failed, in the platform's words: each provider adapter maps its own error codes onto
    these, so that no consumer ever reads a vendor's code to decide what to do next."""

    INVALID_DESTINATION = "invalid_destination"  # not a valid number or address: no channel can reach it
    UNREACHABLE_DESTINATION = "unreachable_destination"  # no such subscriber, or it cannot take this channel
    OPTED_OUT = "opted_out"  # the recipient opted out at the provider or carrier
    REJECTED = "rejected"  # the provider or carrier refused this message (content, policy, our account)
    TRANSIENT = "transient"  # temporary failures until the retries ran out: the address may work later


class DecisionKind(StrEnum):
    ALLOW = "allow"
    DEFER = "defer"
    BLOCK = "block"


class ReasonCode(StrEnum):
    """Machine-readable reasons on a compliance decision."""

    # Hard stops: block.
    ATTORNEY = "ATTORNEY"
    CEASE_COMMUNICATION = "CEASE_COMMUNICATION"
    DECEASED = "DECEASED"
    BANKRUPTCY = "BANKRUPTCY"
    DISPUTE = "DISPUTE"
    BREATHING_SPACE = "BREATHING_SPACE"
    OPTED_OUT = "OPTED_OUT"
    WRONG_PARTY = "WRONG_PARTY"  # the holder of the destination said it is not the debtor's
    NO_CONSENT = "NO_CONSENT"
    TIMEZONE_UNKNOWN = "TIMEZONE_UNKNOWN"
    NO_PACK = "NO_PACK"  # a jurisdiction of the debtor that no loaded policy pack covers
    THIRD_PARTY_NOT_ALLOWED = "THIRD_PARTY_NOT_ALLOWED"
    THIRD_PARTY_DISCLOSURE = "THIRD_PARTY_DISCLOSURE"
    DEBT_ADVICE_REQUIRED = "DEBT_ADVICE_REQUIRED"
    # Escalations: block without an earlier forbearance offer, defer while the offers are too recent.
    FORBEARANCE_REQUIRED = "FORBEARANCE_REQUIRED"
    # Timing: defer, or block once the request can no longer be sent in time.
    QUIET_HOURS = "QUIET_HOURS"
    NON_WORKING_DAY = "NON_WORKING_DAY"
    FREQUENCY_CAP = "FREQUENCY_CAP"
    CONVERSATION_COOLDOWN = "CONVERSATION_COOLDOWN"
    NOT_BEFORE = "NOT_BEFORE"
    EXPIRED = "EXPIRED"
    # Service level: from the gatekeeper's state rather than the rules.
    PROFILE_MISSING = "PROFILE_MISSING"  # no profile has reached the gatekeeper yet: held until one does
    PAUSED = "PAUSED"
    PAID = "PAID"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    CANCELLED = "CANCELLED"


class DebtorFlag(StrEnum):
    """Profile flags that stop all contact (hard stops) under every policy pack."""

    ATTORNEY = "attorney"
    CEASE_COMMUNICATION = "cease_communication"
    DECEASED = "deceased"
    BANKRUPTCY = "bankruptcy"
    DISPUTE = "dispute"
    BREATHING_SPACE = "breathing_space"


class DeadLetterReason(StrEnum):
    """Why a consumer could not use a record (the ``reason`` of a dead letter)."""

    INVALID_JSON = "invalid_json"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_HEADER = "missing_header"
    KEY_MISMATCH = "key_mismatch"
    TOO_LARGE = "too_large"
    PROCESSING_ERROR = "processing_error"
    WRONG_TOPIC = "wrong_topic"  # a valid event on a topic the catalog does not declare it for
    FUTURE_TIME = "future_time"  # a ce_time later than now plus the tolerated clock skew
    BAD_SIGNATURE = "bad_signature"  # an approval without a valid gatekeeper signature for its topic and key
    # A core banking adapter's own input (Fineract: Avro single-object encoding), read at the edge
    BAD_MAGIC = "bad_magic"  # not single-object encoded
    TRUNCATED = "truncated"  # shorter than its header or its schema says
    TRAILING_BYTES = "trailing_bytes"  # longer than its schema says
    INVALID_AVRO = "invalid_avro"  # bytes its schema cannot read
    UNKNOWN_FINGERPRINT = "unknown_fingerprint"  # written with a schema of no release the adapter knows
    MISSING_FIELD = "missing_field"  # a field the translation needs is null
    BAD_VALUE = "bad_value"  # a field that does not parse, or that the platform's event refuses
    TOO_MANY_DECIMALS = "too_many_decimals"  # an amount finer than its currency allows (never rounded)
    UNKNOWN_LOAN = "unknown_loan"  # held for the adapter's bound, and no event taught it the loan
