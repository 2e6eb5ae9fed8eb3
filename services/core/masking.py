"""What logs may show of personal data: enough to follow one contact through the logs, never the whole."""

from __future__ import annotations


def mask_phone(number: str | None) -> str:
    """``***0102``: the last four digits of a phone number."""
    return f"***{number[-4:]}" if number else "-"


def mask_email(address: str | None) -> str:
    """``a***@example.com``: the first character of the mailbox and the domain."""
    if not address:
        return "-"
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def mask_address(address: str | None) -> str:
    """A phone number or an email address, masked as its kind requires."""
    return mask_email(address) if address and "@" in address else mask_phone(address)
