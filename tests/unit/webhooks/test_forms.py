"""The callback forms: Twilio fields read into bounded models; a refusal names the field, never its value."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from services.webhooks.forms import GatherForm, InboundForm, MessageStatusForm, Refused, read

SID = "SM" + "0123456789abcdef" * 2


def test_twilio_names_become_fields_and_the_rest_is_ignored() -> None:
    form = read(
        MessageStatusForm,
        MultiDict(MessageSid=SID, MessageStatus="undelivered", ErrorCode="30007", To="+14155550100", Foo="x"),
    )
    assert (form.message_sid, form.message_status, form.error_code, form.to) == (
        SID,
        "undelivered",
        "30007",
        "+14155550100",
    )


def test_empty_fields_count_as_absent() -> None:
    assert read(GatherForm, MultiDict(CallSid="CA" + "1" * 32, Digits="", To="")).digits == ""
    with pytest.raises(Refused) as refused:
        read(InboundForm, MultiDict(MessageSid=SID, From="", Body="STOP"))
    assert (refused.value.field, refused.value.why) == ("From", "missing")


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (MultiDict(MessageSid="SM" + "f" * 9998, MessageStatus="sent"), "MessageSid"),
        (MultiDict([("MessageSid", SID), ("MessageSid", SID), ("MessageStatus", "sent")]), "MessageSid"),
        (MultiDict(MessageSid=SID, MessageStatus="undelivered", ErrorCode="21610"), "To"),
    ],
)
def test_a_refusal_names_the_twilio_field_and_not_the_value(form: MultiDict[str], field: str) -> None:
    with pytest.raises(Refused) as refused:
        read(MessageStatusForm, form)
    assert refused.value.field == field
    assert "ffff" not in str(refused.value) and refused.value.__cause__ is None
