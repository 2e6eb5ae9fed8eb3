"""Secrets come only from the environment: every settings field of every service that
holds a credential is a ``SecretStr`` (masked in reprs, logs and dumps), or the path of a file holding it
(the sandbox's TLS key), and has no value in the repository (required, or an empty default), so no
deployment can run on a credential committed with the code."""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

import services
from services.channels.settings import ChannelsSettings
from services.webhooks.settings import WebhooksSettings
from tests.support import APPROVAL_PUBLIC_KEY

CREDENTIAL = re.compile(r"(token|password|secret|key|credential)s?$")
# Public keys verify the gatekeeper's signature on approvals and cannot make one: not credentials.
PUBLIC_KEYS = {"approval_keys"}
EXPECTED = {
    "CommonSettings",
    "GatekeeperSettings",
    "EscalationSettings",
    "ChannelsSettings",
    "WebhooksSettings",
    "SandboxSettings",
}


def settings_classes() -> list[type[BaseSettings]]:
    """Every ``BaseSettings`` class defined in the services (command modules are not imported: they run)."""
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: list[type[BaseSettings]] = []
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("services."):
                found.append(sub)
    return sorted(set(found), key=lambda cls: cls.__name__)


def credentials() -> list[tuple[type[BaseSettings], str, FieldInfo]]:
    return [
        (cls, name, field)
        for cls in settings_classes()
        for name, field in cls.model_fields.items()
        if CREDENTIAL.search(name) and name not in PUBLIC_KEYS
    ]


def types_in(annotation: Any) -> set[Any]:
    """The leaf types of ``annotation`` (through ``X | None``, ``list[X]``, ``Annotated``)."""
    args = get_args(annotation)
    if hasattr(annotation, "__metadata__"):  # Annotated[X, validators...]: the type is X
        return types_in(args[0])
    if get_origin(annotation) in (Union, types.UnionType, list) and args:
        return {leaf for arg in args for leaf in types_in(arg)}
    return {annotation}


def test_every_service_settings_class_is_checked() -> None:
    assert {cls.__name__ for cls in settings_classes()} >= EXPECTED
    assert {name for _, name, _ in credentials()} >= {
        "twilio_auth_token",
        "smtp_password",
        "link_signing_keys",
        "twilio_auth_tokens",
        "auth_tokens",
    }


@pytest.mark.parametrize(
    ("cls", "name", "field"), [pytest.param(*c, id=f"{c[0].__name__}.{c[1]}") for c in credentials()]
)
def test_a_credential_is_a_secret_with_no_value_in_the_repository(
    cls: type[BaseSettings], name: str, field: FieldInfo
) -> None:
    leaves = types_in(field.annotation) - {type(None)}
    assert leaves in ({SecretStr}, {Path}), f"{cls.__name__}.{name} is {field.annotation}, not SecretStr"
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    assert default in (None, []), f"{cls.__name__}.{name} has a default value"


def test_secrets_do_not_show_in_reprs_or_dumps() -> None:
    token, key = "token-4f1d9c2a8b", "key-77e0b1c3d5-6a9f"
    configured = [
        ChannelsSettings(
            twilio_auth_token=SecretStr(token),
            link_signing_keys=[SecretStr(key)],
            webhooks_base_url="https://hooks.bank.example",
            approval_keys=[APPROVAL_PUBLIC_KEY],
        ),
        WebhooksSettings(
            twilio_auth_tokens=[SecretStr(token)],
            link_signing_keys=[SecretStr(key)],
            public_base_url="https://hooks.bank.example",
        ),
    ]
    for settings in configured:
        shown = f"{settings!r} {settings} {settings.model_dump_json()} {settings.model_dump()}"
        assert token not in shown and key not in shown
