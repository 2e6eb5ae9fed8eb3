"""Who may call the webhooks: Twilio's request signature (either of two auth tokens, for a rotation), and
the platform's own signed context in every URL it hands Twilio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import SecretStr
from twilio.request_validator import RequestValidator


class TwilioSignatures:
    """X-Twilio-Signature: HMAC-SHA1 over the URL Twilio requested and the sorted form parameters."""

    def __init__(self, tokens: Sequence[SecretStr]) -> None:
        if not tokens:
            raise ValueError("at least one Twilio auth token is required")
        # During a rotation Twilio may sign with the old token or the new one.
        self._validators = [RequestValidator(token.get_secret_value()) for token in tokens]

    def valid(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature:
            return False
        return any(validator.validate(url, params, signature) for validator in self._validators)
