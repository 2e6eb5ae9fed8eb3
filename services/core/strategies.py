"""Which escalation strategies are deployed: a strategy pause must name one of them.

The escalation service reads its strategy file (``ESCALATION_STRATEGY``); the gatekeeper's control command
only needs the names of that file and of the strategy files beside it (an experiment's other strategies),
to refuse a pause that would hold nothing. Both read the same setting.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR, ConfigError


class StrategyFile(BaseSettings):
    """The escalation's strategy file (``ESCALATION_STRATEGY``)."""

    model_config = SettingsConfigDict(env_prefix="ESCALATION_", frozen=True, extra="ignore")

    strategy: Path = DEPLOY_DIR / "strategies" / "standard.toml"


def strategy_names(path: Path) -> frozenset[str]:
    """The ``strategy`` name of ``path`` and of every strategy file in its folder."""
    names = set()
    for candidate in sorted({path, *path.parent.glob("*.toml")}):
        try:
            name = tomllib.loads(candidate.read_text(encoding="utf-8")).get("strategy")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{candidate}: not a readable strategy file: {exc}") from exc
        if isinstance(name, str):
            names.add(name)
    return frozenset(names)
