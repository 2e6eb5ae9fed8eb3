"""The contract between the channel workers and the webhooks service: the routes providers are pointed at,
the request context signed into every callback URL, and the unsubscribe token in every email; and between
whoever signs a portal link and the portal, the portal token.

The workers build these models and sign their ``payload()``; the webhooks verify a signature and read the
payload back with ``from_payload``. Both sides use the same fields, so a renamed field fails the type check
of the other side. Payload keys are short (they travel in every URL), the models' names are not.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.vocab import Channel

# Query parameters of a callback URL. The request id travels in clear too: the provider's logs (and the
# sandbox's ledger) show which request a callback was about.
REQUEST_PARAM = "request_id"
CONTEXT_PARAM = "ctx"
TOKEN_PARAM = "token"  # noqa: S105 (a query parameter name, not a secret)


class Route(StrEnum):
    """Paths of the webhooks service, relative to its public base URL."""

    MESSAGE_STATUS = "/twilio/messages/status"
    CALL_STATUS = "/twilio/calls/status"
    CALL_ANSWER = "/twilio/calls/answer"
    GATHER = "/twilio/calls/gather"
    INBOUND = "/twilio/messages/inbound"
    UNSUBSCRIBE = "/email/unsubscribe"


class _Signed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def payload(self) -> dict[str, Any]:
        """What is signed into the link: short keys, defaults left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    @classmethod
    def from_payload(cls, payload: dict[str, object] | None) -> Self | None:
        """The model a verified payload carries, or None if it is not one."""
        if payload is None:
            return None
        try:
            return cls.model_validate(payload)
        except ValidationError:
            return None


class CallbackContext(_Signed):
    """The request a provider callback is about. A call's context also carries what its menu says (template,
    language, variables), because the webhooks render the menu when the call is answered."""

    request_id: Annotated[str, Field(alias="r", min_length=1, max_length=200)]
    debtor_id: Annotated[str, Field(alias="d", min_length=1, max_length=200)]
    account_id: Annotated[str, Field(alias="a", min_length=1, max_length=200)]
    channel: Annotated[Channel, Field(alias="c")]
    strategy: Annotated[str, Field(alias="s")] = ""
    strategy_version: Annotated[str, Field(alias="sv")] = ""
    arm: Annotated[str, Field(alias="arm")] = ""
    template: Annotated[str, Field(alias="t")] = ""
    language: Annotated[str, Field(alias="l")] = "en-US"
    variables: Annotated[dict[str, str], Field(alias="v")] = {}


class UnsubscribeToken(_Signed):
    """The one-click unsubscribe link of an email (RFC 8058): whose address, from which message."""

    kind: Annotated[Literal["unsubscribe"], Field(alias="k")] = "unsubscribe"
    debtor_id: Annotated[str, Field(alias="d", min_length=1, max_length=200)]
    address: Annotated[str, Field(alias="e", min_length=3, max_length=320)]
    request_id: Annotated[str, Field(alias="r", min_length=1, max_length=200)]

    def payload(self) -> dict[str, Any]:
        # The kind is what tells this token from a callback context signed with the same keys: always in.
        return self.model_dump(mode="json", by_alias=True)


class BounceToken(_Signed):
    """The request an email's envelope sender (its VERP Return-Path) names, so that a bounce finds it: ids
    only, never the recipient's address (the Return-Path travels in every relay's logs and in every DSN)."""

    kind: Annotated[Literal["bounce"], Field(alias="k")] = "bounce"
    request_id: Annotated[str, Field(alias="r", min_length=1, max_length=200)]
    debtor_id: Annotated[str, Field(alias="d", min_length=1, max_length=200)]
    account_id: Annotated[str, Field(alias="a", min_length=1, max_length=200)]
    strategy: Annotated[str, Field(alias="s")] = ""
    arm: Annotated[str, Field(alias="arm")] = ""
    # A keyed fingerprint of the debtor's address (never the address): the message's envelope is shared with
    # any archive copy, so a DSN counts only for the recipient whose fingerprint this is.
    recipient: Annotated[str, Field(alias="h", max_length=64)] = ""

    def payload(self) -> dict[str, Any]:
        # As for the unsubscribe token: the kind is always in, so no other signed token passes for this one.
        return self.model_dump(mode="json", by_alias=True)


# The local part of every bounce address before its token: ``bounces+<token>@<bounce domain>``.
BOUNCE_LOCAL_PART = "bounces"


def bounce_address(token: str, domain: str) -> str:
    """The envelope sender (MAIL FROM) of one email. A signed token is base64url with one dot: valid in a
    dot-atom local part. It is longer than RFC 5321's 64-octet limit for a local part, which the bounce
    receiver and the common mail servers do not enforce; docs/channels.md says what a server that does
    enforce it does."""
    return f"{BOUNCE_LOCAL_PART}+{token}@{domain}"


def bounce_token(address: str, domain: str) -> str | None:
    """The token of a bounce address at ``domain`` (case-insensitive domain, exact local part), or None."""
    local, at, host = address.strip().strip("<>").rpartition("@")
    prefix = f"{BOUNCE_LOCAL_PART}+"
    if not at or host.lower() != domain.lower() or not local.startswith(prefix):
        return None
    return local[len(prefix) :] or None


class PortalToken(_Signed):
    """The link to the debtor's self-service portal in a message: whose it is, which contact point it was sent
    to (the point "this is not me" marks), and when it was issued (the portal refuses it after the lifetime
    the bank sets). It opens only the verification page: nothing about the debt."""

    kind: Annotated[Literal["portal"], Field(alias="k")] = "portal"
    debtor_id: Annotated[str, Field(alias="d", min_length=1, max_length=128)]
    address: Annotated[str, Field(alias="e", min_length=3, max_length=320)]
    issued_at: Annotated[int, Field(alias="i", ge=0)]  # Unix seconds

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


PORTAL_START = "/start"


def portal_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{PORTAL_START}?{urlencode({TOKEN_PARAM: token})}"


def callback_url(base: str, route: Route, request_id: str, context_token: str) -> str:
    query = urlencode({REQUEST_PARAM: request_id, CONTEXT_PARAM: context_token})
    return f"{base.rstrip('/')}{route.value}?{query}"


def unsubscribe_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{Route.UNSUBSCRIBE.value}?{urlencode({TOKEN_PARAM: token})}"
