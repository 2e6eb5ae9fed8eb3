"""The form of each Twilio callback as a model, every field the service reads bounded as Twilio documents it:
SIDs are two letters and 32 hex digits, numbers E.164 (at most 16 characters), statuses and answering-machine
results from closed sets, one key pressed, error codes of at most five digits, a body of at most 1,600
characters. Fields the service does not read are ignored: they reach neither Kafka nor a log line.

A field out of bounds refuses the whole request (``Refused``: 400, nothing emitted); the refusal names the
field and what is wrong with it, never its value.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from multidict import MultiDict
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from services.messaging.twilio import OPTED_OUT_CODE


class Refused(Exception):
    """A request the service will not act on: 400, with the field (never its value) in the log line."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


AccountSid = Annotated[str, StringConstraints(max_length=34, pattern=r"^AC[0-9a-fA-F]{32}$")]
MessageSid = Annotated[str, StringConstraints(max_length=34, pattern=r"^(SM|MM)[0-9a-fA-F]{32}$")]
CallSid = Annotated[str, StringConstraints(max_length=34, pattern=r"^CA[0-9a-fA-F]{32}$")]
# E.164 is at most 15 digits; the plus is optional because short codes and some carriers send digits only.
Phone = Annotated[str, StringConstraints(max_length=16, pattern=r"^\+?[0-9]{3,15}$")]
ErrorCode = Annotated[str, StringConstraints(max_length=5, pattern=r"^[0-9]{1,5}$")]
# A Twilio call lasts at most 24 hours.
Seconds = Annotated[int, Field(ge=0, le=86_400)]
# The menu gathers one key; an empty Gather result arrives without Digits.
Digit = Annotated[str, StringConstraints(max_length=1, pattern=r"^[0-9*#]$")]
SmsBody = Annotated[str, StringConstraints(max_length=1600)]

MessageStatus = Literal[
    "accepted",
    "scheduled",
    "canceled",
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "read",
    "partially_delivered",
]
CallStatus = Literal[
    "queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"
]
AnsweredBy = Literal[
    "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax", "unknown"
]


class TwilioForm(BaseModel):
    """What every Twilio request may carry; each endpoint's form adds its own fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account_sid: Annotated[AccountSid | None, Field(alias="AccountSid")] = None


class MessageStatusForm(TwilioForm):
    message_sid: Annotated[MessageSid, Field(alias="MessageSid")]
    message_status: Annotated[MessageStatus, Field(alias="MessageStatus")]
    error_code: Annotated[ErrorCode | None, Field(alias="ErrorCode")] = None
    from_: Annotated[Phone | None, Field(alias="From")] = None
    # Declared after ErrorCode: a 21610 records an opt-out of this number, so it needs it.
    to: Annotated[Phone | None, Field(alias="To", validate_default=True)] = None

    @field_validator("to")
    @classmethod
    def _opt_out_needs_the_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("error_code") == OPTED_OUT_CODE:
            raise ValueError(f"required with ErrorCode {OPTED_OUT_CODE}")
        return value


class CallForm(TwilioForm):
    call_sid: Annotated[CallSid, Field(alias="CallSid")]
    call_status: Annotated[CallStatus | None, Field(alias="CallStatus")] = None
    answered_by: Annotated[AnsweredBy | None, Field(alias="AnsweredBy")] = None
    to: Annotated[Phone | None, Field(alias="To")] = None
    from_: Annotated[Phone | None, Field(alias="From")] = None
    called: Annotated[Phone | None, Field(alias="Called")] = None
    caller: Annotated[Phone | None, Field(alias="Caller")] = None


class CallStatusForm(CallForm):
    call_status: Annotated[CallStatus, Field(alias="CallStatus")]
    call_duration: Annotated[Seconds, Field(alias="CallDuration")] = 0
    error_code: Annotated[ErrorCode | None, Field(alias="ErrorCode")] = None


class GatherForm(CallForm):
    digits: Annotated[Digit | Literal[""], Field(alias="Digits")] = ""


class InboundForm(TwilioForm):
    message_sid: Annotated[MessageSid | None, Field(alias="MessageSid")] = None
    from_: Annotated[Phone, Field(alias="From")]
    to: Annotated[Phone | None, Field(alias="To")] = None
    body: Annotated[SmsBody, Field(alias="Body")] = ""


F = TypeVar("F", bound=TwilioForm)


def read(model: type[F], form: MultiDict[str]) -> F:
    """The model of a posted form; ``Refused`` names the first field out of bounds."""
    aliases = {name: info.alias or name for name, info in model.model_fields.items()}
    fields = set(aliases.values())
    values: dict[str, str] = {}
    for name in sorted(fields & form.keys()):
        given = form.getall(name)
        if len(given) > 1:
            raise Refused(name, "given more than once")
        if given[0] != "":  # Twilio sends some fields empty rather than leaving them out
            values[name] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        # A default that fails its validator is reported under the field's name, not Twilio's.
        field = aliases.get(str(error["loc"][0]), str(error["loc"][0])) if error["loc"] else "form"
        why = error["msg"].removeprefix("Value error, ") if error["type"] == "value_error" else error["type"]
        # Not chained: a validation error's text quotes the value.
        raise Refused(field, why) from None
