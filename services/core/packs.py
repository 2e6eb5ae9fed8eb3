"""Which policy packs are loaded: the jurisdictions a debtor may be subject to.

The gatekeeper reads the packs themselves; the publish command only needs their ids, to refuse a profile
that names a jurisdiction no pack covers (the gatekeeper would block it ``NO_PACK``). Both read the same
setting, ``GATEKEEPER_POLICIES``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR, ConfigError


class PolicyFolder(BaseSettings):
    """The folder of policy pack files (``GATEKEEPER_POLICIES``)."""

    model_config = SettingsConfigDict(env_prefix="GATEKEEPER_", frozen=True, extra="ignore")

    policies: Path = DEPLOY_DIR / "policies"


def pack_ids(folder: Path) -> frozenset[str]:
    """The ``pack`` id of every pack file in ``folder``."""
    ids = set()
    for path in sorted(folder.glob("*.toml")):
        try:
            pack = tomllib.loads(path.read_text(encoding="utf-8")).get("pack")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable policy pack: {exc}") from exc
        if isinstance(pack, str):
            ids.add(pack)
    if not ids:
        raise ConfigError(f"{folder}: no policy pack files (*.toml)")
    return frozenset(ids)
