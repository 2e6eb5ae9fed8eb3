"""Gatekeeper settings (environment variables ``GATEKEEPER_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR


class GatekeeperSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEKEEPER_", frozen=True, extra="ignore")

    policies: Path = DEPLOY_DIR / "policies"
