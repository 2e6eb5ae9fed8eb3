"""The one shape of every command: ``collections <service> <command> [options]``.

Each service declares its commands in its ``cli`` module as ``COMMANDS`` (a name → ``Command`` mapping);
``python -m services.<service>`` and the ``collections`` console script both run them through ``main``.
Every subcommand has its own ``--help``. Bad usage or configuration fails with one line on stderr naming
what is wrong, and exit code 2; so do a Kafka broker that does not answer and a principal that the broker
refuses (a deployment problem, not a bug): ``problem`` says which errors those are, for the commands here
and for every service's ``run`` (``services.core.runner``). Exit 1 is kept for "ran and found problems".
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from services.core.settings import ConfigError

USAGE_ERROR = 2


@dataclass(frozen=True, slots=True)
class Command:
    help: str  # one line, shown in the service's command list
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None  # the subcommand's --help text (default: ``help``)


def no_options(parser: argparse.ArgumentParser) -> None:
    """For commands configured only through settings."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see --help)\n")


def build(prog: str, commands: Mapping[str, Command], description: str | None = None) -> Parser:
    parser = Parser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name, command in commands.items():
        command.configure(
            sub.add_parser(
                name,
                help=command.help,
                description=command.description or command.help,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )
    return parser


def main(
    prog: str,
    commands: Mapping[str, Command],
    argv: Sequence[str] | None = None,
    description: str | None = None,
) -> int:
    """Parse ``argv`` and run the chosen command; configuration errors become one line and exit 2."""
    args = build(prog, commands, description).parse_args(argv)
    return _run(prog, commands[args.command], args)


def single(prog: str, command: Command, argv: Sequence[str] | None = None) -> int:
    """A service whose only command is the service itself (``collections publish FILE``)."""
    parser = Parser(
        prog=prog,
        description=command.description or command.help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.configure(parser)
    args = parser.parse_args(argv)
    return _run(prog, command, args)


def _run(prog: str, command: Command, args: argparse.Namespace) -> int:
    # The Kafka client logs each failed attempt before raising; the error it raises becomes the one line.
    # A service's ``run`` configures its own logging (``services.core.runner``).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return command.run(args)
    except Exception as exc:
        message = problem(exc)
        if message is None:
            raise
        return fail(prog, message)


def problem(exc: BaseException) -> str | None:
    """The one-line message for an error of configuration or deployment, or None for any other (a bug)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    # aiokafka is imported by the commands that talk to Kafka only: if it is not loaded, exc is not its.
    errors = sys.modules.get("aiokafka.errors")
    if errors is None:
        return None
    if isinstance(exc, errors.KafkaConnectionError):
        # aiokafka names the hosts as (host, port, family) tuples; the operator wrote host:port.
        hosts = ",".join(f"{host}:{port}" for host, port in re.findall(r"\('([^']*)', (\d+)", str(exc)))
        return (
            f"no Kafka broker answers at {hosts or exc}: check COLLECTIONS_KAFKA_BOOTSTRAP "
            "(and that the broker runs)"
        )
    refused = (
        errors.TopicAuthorizationFailedError,
        errors.GroupAuthorizationFailedError,
        errors.ClusterAuthorizationFailedError,
    )
    if isinstance(exc, refused):
        return (
            f"the Kafka broker refused this principal: {exc} (what each principal may write and read: "
            "docs/operations.md, or `collections topics acls --format table`)"
        )
    return None


def fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return USAGE_ERROR
