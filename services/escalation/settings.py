"""Escalation settings (environment variables ``ESCALATION_*``), read once at start-up."""

from __future__ import annotations

from services.core.strategies import StrategyFile


class EscalationSettings(StrategyFile):
    payment_link_base: str = "https://pay.example.com/p"
