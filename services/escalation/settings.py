"""Escalation settings (environment variables ``ESCALATION_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR


class EscalationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", frozen=True, extra="ignore")

    strategy: Path = DEPLOY_DIR / "strategies" / "standard.toml"
    payment_link_base: str = "https://pay.example.com/p"
