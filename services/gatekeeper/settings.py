"""Gatekeeper settings (environment variables ``GATEKEEPER_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR
from services.core.signing import SigningKey


class PoliciesSettings(BaseSettings):
    """Where the policy packs are: all the ``decide`` command needs (it signs nothing)."""

    model_config = SettingsConfigDict(env_prefix="GATEKEEPER_", frozen=True, extra="ignore")

    policies: Path = DEPLOY_DIR / "policies"


class GatekeeperSettings(PoliciesSettings):
    # Signs every approval (``collections gatekeeper keys generate``); workers hold only the public key.
    signing_key: SigningKey
