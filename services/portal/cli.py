"""The portal's commands: ``collections portal run`` and ``collections portal link``."""

from __future__ import annotations

import argparse
import time

from schemas.callbacks import PortalToken, portal_url
from services.core.cli import Command, no_options
from services.core.runner import run_service
from services.core.settings import CommonSettings, load
from services.messaging.links import LinkSigner
from services.portal.settings import PortalSettings


def run(args: argparse.Namespace) -> int:
    from services.portal.app import main as serve

    return run_service("portal", (CommonSettings, PortalSettings), serve)


def configure_link(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debtor", required=True, help="the debtor id the link opens")
    parser.add_argument("--address", required=True, help="the contact point the link is sent to")


def link(args: argparse.Namespace) -> int:
    """A signed link as a message carries it (for support staff and tests): nothing shows until verified."""
    config = load(PortalSettings)
    token = PortalToken(debtor_id=args.debtor, address=args.address, issued_at=int(time.time()))
    print(portal_url(config.public_base_url, LinkSigner(config.link_signing_keys).sign(token.payload())))
    return 0


COMMANDS = {
    "run": Command("run the debtor portal (settings: COLLECTIONS_*, PORTAL_*)", no_options, run),
    "link": Command("print a signed portal link for a debtor and contact point", configure_link, link),
}
