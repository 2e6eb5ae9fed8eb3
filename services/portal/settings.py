"""Portal settings (environment variables ``PORTAL_*``), read once at start; keys have no default."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import CommaList, HttpUrl, SigningKeys


def _fernet_key(value: SecretStr) -> SecretStr:
    # The session cookie is encrypted and authenticated with it (Fernet: 32 bytes, urlsafe base64).
    try:
        raw = base64.urlsafe_b64decode(value.get_secret_value().encode())
    except (binascii.Error, ValueError):
        raise ValueError("must be 32 bytes in urlsafe base64 (a Fernet key)") from None
    if len(raw) != 32:
        raise ValueError("must be 32 bytes in urlsafe base64 (a Fernet key)")
    return value


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8090
    # The portal's address as debtors reach it (behind any proxy): the links in messages point there.
    public_base_url: HttpUrl
    # The link signing keys the channel workers and the webhooks share: the first signs, all verify.
    link_signing_keys: SigningKeys
    # How long a link opens the portal after it was issued; the bank sets it.
    link_lifetime_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 72
    # Encrypts and authenticates the session cookie: `python -c "from cryptography.fernet import Fernet;
    # print(Fernet.generate_key().decode())"`.
    session_key: Annotated[SecretStr, AfterValidator(_fernet_key)]
    session_minutes: Annotated[int, Field(ge=1, le=120)] = 15
    # The bank's keys for the knowledge factors' hashes (core banking holds the same); any one may match.
    knowledge_keys: SigningKeys
    # Wrong answers: a link locks after this many; one client address after this many in the window.
    max_attempts_per_link: Annotated[int, Field(ge=1, le=20)] = 5
    max_attempts_per_client: Annotated[int, Field(ge=1, le=1000)] = 20
    attempt_window_minutes: Annotated[int, Field(ge=1)] = 15
    # A promise: from tomorrow up to this many days ahead, at least this much, at most what is past due.
    promise_max_days: Annotated[int, Field(ge=1, le=90)] = 30
    promise_min_amount: Annotated[Decimal, Field(gt=0)] = Decimal("1")
    # Behind a reverse proxy, the header carrying the client's address (its last entry is used).
    client_address_header: str = ""
    languages: CommaList = ["en-US", "en-GB", "zh-CN"]
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024
    # Recent contacts shown to the verified debtor.
    recent_contacts: Annotated[int, Field(ge=0, le=50)] = 5
