"""Twilio's message and call statuses and its error codes mapped onto the platform's vocabulary, for the SMS
and voice adapters (what a create or a lookup answers) and the webhooks service (what a callback says)."""

from __future__ import annotations

from schemas.vocab import FailureKind, OutcomeStatus

# The recipient replied STOP at the carrier: never retry; the platform records the opt-out too.
OPTED_OUT_CODE = "21610"

_FAILURES: dict[str, FailureKind] = {
    "21211": FailureKind.INVALID_DESTINATION,  # not a valid phone number
    "21614": FailureKind.UNREACHABLE_DESTINATION,  # not a mobile number: cannot take SMS
    "21408": FailureKind.UNREACHABLE_DESTINATION,  # a region the account may not send to
    "30005": FailureKind.UNREACHABLE_DESTINATION,  # unknown destination handset
    "30006": FailureKind.UNREACHABLE_DESTINATION,  # a landline or unreachable carrier
    OPTED_OUT_CODE: FailureKind.OPTED_OUT,
    "30003": FailureKind.TRANSIENT,  # handset switched off or out of coverage
    "30008": FailureKind.TRANSIENT,  # unknown error at the carrier
}


def failure(error_code: str | None) -> FailureKind | None:
    """What a Twilio error code means for the next contact; any other code is a refusal of this message."""
    if not error_code:
        return None
    return _FAILURES.get(error_code, FailureKind.REJECTED)


MESSAGE_STATUS: dict[str, OutcomeStatus] = {
    "accepted": OutcomeStatus.SENT,
    "scheduled": OutcomeStatus.SENT,
    "queued": OutcomeStatus.SENT,
    "sending": OutcomeStatus.SENT,
    "sent": OutcomeStatus.SENT,
    "delivered": OutcomeStatus.DELIVERED,
    "read": OutcomeStatus.DELIVERED,
    "undelivered": OutcomeStatus.UNDELIVERED,
    "failed": OutcomeStatus.FAILED,
    "canceled": OutcomeStatus.FAILED,
}
# A message's statuses in the order they can happen; a callback never moves a message backwards.
MESSAGE_RANK: dict[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}
FINAL_MESSAGE_STATUSES = frozenset({"delivered", "read", "undelivered", "failed", "canceled"})
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def call_outcome(call_status: str, answered_by: str | None) -> OutcomeStatus | None:
    """The outcome of a finished call, or None while it is still going.

    A call that never connected (failed, canceled) is ``not_connected``: it does not count as a placed call
    under Regulation F. Without machine detection a completed call counts as a conversation.
    """
    if call_status == "completed":
        if answered_by and answered_by.startswith("machine"):
            return OutcomeStatus.VOICEMAIL
        if answered_by == "fax":
            return OutcomeStatus.NOT_CONNECTED
        return OutcomeStatus.CONVERSATION
    return {
        "no-answer": OutcomeStatus.NO_ANSWER,
        "busy": OutcomeStatus.BUSY,
        "failed": OutcomeStatus.NOT_CONNECTED,
        "canceled": OutcomeStatus.NOT_CONNECTED,
    }.get(call_status)
