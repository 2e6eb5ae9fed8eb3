"""Kafka ACLs from the topic catalog: the grants as data, applied through the cluster's admin API, or
printed as ``kafka-acls.sh`` and ``kafka-configs.sh`` lines for a bank's own cluster.

aiokafka has no ACL or SCRAM calls, so this module (and only this module) uses confluent-kafka's
``AdminClient``, built from the same settings as every other client (``clients.librdkafka_config``).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal, TypeVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from services.core.runtime.clients import librdkafka_config
from services.core.settings import CommonSettings, ConfigError

Resource = Literal["topic", "group"]
Operation = Literal["READ", "WRITE"]
# librdkafka's default (and Kafka's minimum for SHA-512 is 4096).
SCRAM_ITERATIONS = 8192

T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One ALLOW ACL: ``principal`` may ``operation`` the topic or group ``name`` (a literal name)."""

    principal: str
    resource: Resource
    name: str
    operation: Operation

    @property
    def user(self) -> str:
        return f"User:{self.principal}"


class AclError(Exception):
    """The cluster refused to list, create or delete ACLs or SCRAM users; the message says which and why."""


def _binding(grant: Grant, kind: type[AclBinding] = AclBinding) -> AclBinding:
    return kind(
        ResourceType.TOPIC if grant.resource == "topic" else ResourceType.GROUP,
        grant.name,
        ResourcePatternType.LITERAL,
        grant.user,
        "*",
        AclOperation.READ if grant.operation == "READ" else AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )


def _on(resource: Resource, name: str) -> AclBindingFilter:
    """Every literal ACL on one topic or group, for any principal, host, operation and permission."""
    return AclBindingFilter(
        ResourceType.TOPIC if resource == "topic" else ResourceType.GROUP,
        name,
        ResourcePatternType.LITERAL,
        None,  # type: ignore[arg-type]  # None matches any principal (the library's annotation says str)
        None,  # type: ignore[arg-type]  # and any host
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _grant(binding: AclBinding) -> Grant | None:
    """The grant a binding on the broker expresses, or None if it is not of the kind this module writes."""
    if (
        binding.resource_pattern_type != ResourcePatternType.LITERAL
        or binding.permission_type != AclPermissionType.ALLOW
        or binding.host != "*"
        or not binding.principal.startswith("User:")
        or binding.operation not in (AclOperation.READ, AclOperation.WRITE)
        or binding.restype not in (ResourceType.TOPIC, ResourceType.GROUP)
    ):
        return None
    return Grant(
        binding.principal.removeprefix("User:"),
        "topic" if binding.restype == ResourceType.TOPIC else "group",
        binding.name,
        "READ" if binding.operation == AclOperation.READ else "WRITE",
    )


async def _result(future: Future[T], what: str) -> T:
    try:
        return await asyncio.wrap_future(future)
    except KafkaException as exc:
        raise AclError(f"{what}: {exc.args[0].str() if exc.args else exc}") from exc


def admin_client(settings: CommonSettings) -> AdminClient:
    return AdminClient(librdkafka_config(settings, "collections-acls"))


async def apply_grants(
    settings: CommonSettings, wanted: Iterable[Grant], managed: set[tuple[Resource, str]]
) -> tuple[list[Grant], list[Grant]]:
    """Make the broker's READ/WRITE ACLs on the ``managed`` topics and groups exactly ``wanted``.

    Creates what is missing and deletes what the catalog no longer grants on those resources (a writer taken
    off a topic loses it on the next apply); ACLs on any other resource are left alone, so a bank's own
    grants (Fineract's topic, its tools) survive. Returns (created, deleted).
    """
    wanted = set(wanted)
    admin = admin_client(settings)
    # One listing per managed resource (all sent at once): the cost stays that of one deployment's ACLs
    # however many other deployments (test prefixes) share the cluster.
    listings = [
        _result(admin.describe_acls(_on(resource, name), request_timeout=30), f"listing ACLs of {name}")
        for resource, name in sorted(managed)
    ]
    present = {
        grant
        for found in await asyncio.gather(*listings)
        for grant in map(_grant, found)
        if grant is not None and (grant.resource, grant.name) in managed
    }
    create = sorted(wanted - present)
    delete = sorted(present - wanted)
    if create:
        futures = admin.create_acls([_binding(g) for g in create], request_timeout=30)
        for binding, future in futures.items():
            await _result(future, f"creating ACL {binding}")
    if delete:
        filters = [_binding(g, AclBindingFilter) for g in delete]
        futures_d = admin.delete_acls(filters, request_timeout=30)  # type: ignore[arg-type]
        for binding, future_d in futures_d.items():
            await _result(future_d, f"deleting ACL {binding}")
    return create, delete


async def upsert_users(settings: CommonSettings, passwords: Mapping[str, str]) -> None:
    """Create or reset SCRAM-SHA-512 users (the local runtime's principals added after it was formatted,
    ``collections topics apply --users-from-env``)."""
    if not passwords:
        return
    admin = admin_client(settings)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode()) for user, password in passwords.items()],
        request_timeout=30,
    )
    for user, future in futures.items():
        await _result(future, f"setting the SCRAM credential of {user}")


def password_variable(principal: str) -> str:
    """``KAFKA_PASSWORD_<NAME>``: the environment variable that hands over a principal's password (the
    printed script, ``collections topics apply --users-from-env``, docker-compose)."""
    return "KAFKA_PASSWORD_" + principal.upper().replace("-", "_")


def passwords_from_env(principals: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The password of each of ``principals`` whose ``KAFKA_PASSWORD_<NAME>`` is set, by principal; the
    others are left out. A variable set but empty is refused (a user with no password is no user)."""
    found = {
        name: environ[password_variable(name)] for name in principals if password_variable(name) in environ
    }
    empty = sorted(password_variable(name) for name, password in found.items() if not password)
    if empty:
        raise ConfigError(f"{', '.join(empty)}: set but empty")
    return found


def script(grants: Sequence[Grant], principals: Sequence[str], *, bootstrap: str) -> list[str]:
    """Shell lines that create the SCRAM users and the ACLs with Kafka's own tools (for a bank's cluster).

    One ``kafka-acls.sh`` line per principal and resource (its operations together). Passwords are read from
    environment variables (``KAFKA_PASSWORD_<NAME>``) that the person running the script sets.
    """
    conn = f"--bootstrap-server {shlex.quote(bootstrap)} --command-config admin.properties"
    lines = [
        "# Run as the cluster's admin; admin.properties holds that principal's client settings (SASL_SSL).",
        "# SCRAM users, one per principal; set KAFKA_PASSWORD_<NAME> first (or create them your own way).",
    ]
    for name in principals:
        variable = password_variable(name)
        lines.append(
            f"kafka-configs.sh {conn} --alter --entity-type users --entity-name {shlex.quote(name)} "
            f'--add-config "SCRAM-SHA-512=[iterations={SCRAM_ITERATIONS},password=${{{variable}}}]"'
        )
    lines.append("# ACLs: each principal may do exactly what deploy/topics.toml says, and nothing else.")
    grouped: dict[tuple[str, Resource, str], list[Operation]] = {}
    for grant in sorted(grants):
        grouped.setdefault((grant.principal, grant.resource, grant.name), []).append(grant.operation)
    for (principal, resource, name), operations in grouped.items():
        ops = " ".join(f"--operation {op.capitalize()}" for op in operations)
        lines.append(
            f"kafka-acls.sh {conn} --add --allow-principal User:{shlex.quote(principal)} {ops} "
            f"--{resource} {shlex.quote(name)} --resource-pattern-type literal"
        )
    return lines


def require_authenticated(settings: CommonSettings) -> None:
    if settings.kafka_security_protocol == "PLAINTEXT":
        raise ConfigError(
            "ACLs need an authenticated connection: set COLLECTIONS_KAFKA_SECURITY_PROTOCOL=SASL_SSL and the "
            "admin principal's COLLECTIONS_KAFKA_SASL_USERNAME and COLLECTIONS_KAFKA_SASL_PASSWORD"
        )
