"""Gatekeeper settings (environment variables ``GATEKEEPER_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR
from services.core.signing import SigningKey


class GatekeeperSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEKEEPER_", frozen=True, extra="ignore")

    policies: Path = DEPLOY_DIR / "policies"
    # The template catalog: the tags of each template (what it is fit for) are part of every decision.
    templates: Path = DEPLOY_DIR / "templates"
    # Signs every approval (``collections gatekeeper keys generate``); workers hold only the public key.
    signing_key: SigningKey
