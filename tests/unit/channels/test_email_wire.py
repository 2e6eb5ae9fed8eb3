"""The email as it goes on the wire: RFC 8058's one-click headers with the URI whole (RFC 2047 forbids an
encoded-word around it), folded only at whitespace, no line past RFC 5322's 998 characters."""

from __future__ import annotations

import email
import email.policy

import pytest

from services.channels.adapters.smtp_email import to_wire
from services.channels.errors import PermanentSendError
from services.channels.ports import Email

LONG_URI = (
    "https://hooks.bank.example/email/unsubscribe?token=" + "eyJkIjoiZDEiLCJlIjoiYUBleGFtcGxlLmNvbSJ9" * 8
)


def message(*headers: tuple[str, str], subject: str = "Important: your account") -> Email:
    return Email(
        to="alex.doe@example.com",
        from_="Example Bank <collections@bank.example>",
        subject=subject,
        text="Please call us.",
        html="<p>Please call us.</p>",
        message_id="<0f1e@bank.example>",
        headers=headers,
    )


def header_lines(raw: bytes) -> list[bytes]:
    return raw.partition(b"\r\n\r\n")[0].split(b"\r\n")


def test_a_long_one_click_uri_stays_whole_beside_its_header_name() -> None:
    raw = to_wire(
        message(
            ("List-Unsubscribe", f"<{LONG_URI}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
    )
    lines = header_lines(raw)
    assert f"List-Unsubscribe: <{LONG_URI}>".encode() in lines
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert b"=?" not in b"".join(line for line in lines if line.startswith(b"List-"))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    # A strict reader sees the same value, with no decoding to do.
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert parsed["List-Unsubscribe"] == f"<{LONG_URI}>"


def test_several_uris_are_folded_between_them_never_inside_one() -> None:
    value = f"<mailto:unsubscribe@bank.example?subject=unsubscribe>, <{LONG_URI}>"
    lines = header_lines(to_wire(message(("List-Unsubscribe", value))))
    start = lines.index(b"List-Unsubscribe: <mailto:unsubscribe@bank.example?subject=unsubscribe>,")
    assert lines[start + 1] == f" <{LONG_URI}>".encode()


def test_other_headers_are_still_folded_and_encoded_as_rfc_2047_says() -> None:
    subject = "Ihr Konto bei der Example Bank: bitte rufen Sie uns an, es geht um Ihre Zahlung für Juni"
    raw = to_wire(message(subject=subject))
    assert all(len(line) <= 78 for line in header_lines(raw))
    assert b"=?utf-8?" in raw
    assert email.message_from_bytes(raw, policy=email.policy.default)["Subject"] == subject


@pytest.mark.parametrize(
    "value",
    [
        f"<{LONG_URI}>\r\nBcc: someone@example.com",  # header injection
        "<https://hooks.bank.example/unsubscribe?name=zoë>",  # not percent-encoded
        "<https://hooks.bank.example/unsubscribe?token=" + "a" * 1000 + ">",  # no line could hold it
    ],
)
def test_a_uri_header_that_cannot_be_written_as_is_is_a_permanent_failure(value: str) -> None:
    with pytest.raises(PermanentSendError):
        to_wire(message(("List-Unsubscribe", value)))
