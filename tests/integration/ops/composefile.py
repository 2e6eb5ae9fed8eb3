"""docker-compose.yml as the tests read it: the parsed file, its required variables, and a value with them
filled in as docker-compose would (``$$`` a literal dollar), for tests that run what the file says."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
# `${NAME:?NAME is not set (...)}`: a secret with no default, whose message names it.
MESSAGE = "is not set (run make compose-env, or see .env.example)"
REQUIRED = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?\1 " + re.escape(MESSAGE) + r"\}")


def compose_file() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def variables() -> set[str]:
    return set(REQUIRED.findall(COMPOSE.read_text()))


def interpolate(value: str, values: Mapping[str, str]) -> str:
    return REQUIRED.sub(lambda match: values[match.group(1)], value).replace("$$", "$")


def required(value: str) -> str | None:
    """The variable a value is, if it is exactly one required variable."""
    match = REQUIRED.fullmatch(value)
    return match.group(1) if match else None
