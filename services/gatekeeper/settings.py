"""Gatekeeper settings (environment variables ``GATEKEEPER_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from services.core.packs import PolicyFolder
from services.core.settings import DEPLOY_DIR
from services.core.signing import SigningKey


class PoliciesSettings(PolicyFolder):
    """Where the policy packs (``GATEKEEPER_POLICIES``, as the publish command reads them) and the template
    catalog are: all the ``decide`` command needs (it signs nothing)."""

    # The template catalog: the tags of each template (what it is fit for) are part of every decision.
    templates: Path = DEPLOY_DIR / "templates"


class GatekeeperSettings(PoliciesSettings):
    # Signs every approval (``collections gatekeeper keys generate``); workers hold only the public key.
    signing_key: SigningKey
