"""Settings of the reports and the audit (environment variables ``AUDIT_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.signing import VerifyKeys


class AuditSettings(BaseSettings):
    """The gatekeeper's public keys in force: the audit checks every approval's signature with them."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", frozen=True, extra="ignore")

    approval_keys: VerifyKeys
