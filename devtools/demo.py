"""``make demo``: the whole platform end to end on a local broker, a simulated bank and its customers.

It starts Kafka, the provider sandboxes and every service as separate processes on a stepped shared clock,
generates a seeded population of overdue debtors, and plays ``--days`` simulated days: core banking publishes
its end of day, escalation requests contacts, the gatekeeper decides, the workers send through the sandboxes,
callbacks come back through the webhooks, and the customers react (pay, promise, press keys, reply STOP).
Simulated time moves on only when the whole pipeline is idle, so results do not depend on machine speed.
At the end it prints the effectiveness report and the independent audit, and writes the HTML report.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
import orjson
from pydantic import BaseModel

from devtools import localkafka
from devtools.fineract_bank import TOPIC as FINERACT_TOPIC
from devtools.fineract_bank import FineractBank, fineract_ids
from devtools.localkafka import LocalKafka, free_port
from devtools.processes import Service
from devtools.progress import DayProgress, figures
from devtools.stepper import Stepper
from schemas.topics import DISPATCH
from schemas.vocab import Channel
from services.core import signing
from services.core.acls import Grant, apply_grants
from services.core.catalog import TopicSpec, apply, load_catalog
from services.core.clock import write_stepped
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.settings import DEPLOY_DIR, REPO_ROOT, ConfigError
from services.core.signing import ApprovalVerifier
from services.escalation.service import Escalation
from services.gatekeeper.service import Gatekeeper
from services.reporting import provenance
from services.reporting.audit import audit
from services.reporting.compute import compute
from services.reporting.html import render_html
from services.reporting.reader import read_records
from services.reporting.render import render_text
from services.simulator.population import Debtor, generate, sandbox_faults
from services.simulator.world import Action, AgentPromise, CoreBanking, Customers, Keypad, Payment, Reply

log = logging.getLogger("demo")
START = date(2026, 11, 30)  # a Monday, with the EU's Consumer Credit Directive in force
DEMO_KAFKA_PORT = 19092  # fixed, so that the broker `make demo-up` serves again is where the docs say
APPROVAL_KEY_FILE = "approval-key.pub"  # the gatekeeper's public key of the run: the audit checks with it
SMS_FROM = "+18005550100"
VOICE_FROM = "+18005550101"


@dataclass
class Options:
    size: int = 2000
    days: int = 60
    seed: int = 7
    strategy: Path = DEPLOY_DIR / "strategies" / "standard.toml"
    out: Path = REPO_ROOT / "var" / "demo"
    core: str = "platform"  # what core banking speaks: the platform's own contract, or "fineract"
    kafka_port: int = 0  # 0: any free port


@dataclass
class Stack:
    """Every process of the platform, wired together on loopback ports chosen for this run."""

    options: Options
    kafka: LocalKafka
    services: dict[str, Service] = field(default_factory=dict)
    sandbox_url: str = ""
    webhooks_url: str = ""
    metrics: dict[str, str] = field(default_factory=dict)
    approval_key: str = ""  # the gatekeeper's public key of this run, for the audit

    @classmethod
    def build(cls, options: Options) -> Stack:
        out = options.out
        stack = cls(options, LocalKafka(out / "kafka", port=options.kafka_port))
        token, link_key = secrets.token_hex(16), secrets.token_hex(32)  # per run: nothing to keep secret
        signing_key, approval_key = signing.generate()
        stack.approval_key = approval_key
        http_port, smtp_port, hook_port = free_port(), free_port(), free_port()
        stack.sandbox_url = f"http://127.0.0.1:{http_port}"
        stack.webhooks_url = f"http://127.0.0.1:{hook_port}"
        # Each service's Kafka principal and credentials are added at start, once the broker has them.
        common = {
            "COLLECTIONS_CLOCK": f"file:{out / 'clock.json'}",
            "COLLECTIONS_CLOCK_ACK_DIR": str(out / "acks"),
            "COLLECTIONS_LOG_LEVEL": "WARNING",
            "COLLECTIONS_SESSION_TIMEOUT_MS": "10000",
        }
        logs = out / "logs"
        stack.services["sandbox"] = Service(
            "sandbox",
            ["services.sandbox"],
            {
                "SANDBOX_HTTP_PORT": str(http_port),
                "SANDBOX_SMTP_PORT": str(smtp_port),
                "SANDBOX_AUTH_TOKENS": token,
                "SANDBOX_ADMIN_TOKEN": secrets.token_hex(16),
                "SANDBOX_SMTP_CA_FILE": str(out / "smtp-ca.pem"),
                "SANDBOX_CLOCK": common["COLLECTIONS_CLOCK"],
                "SANDBOX_INBOUND_URL": f"{stack.webhooks_url}/twilio/messages/inbound",
                "SANDBOX_CALLBACK_DELAY_MS": "2",
                # A callback the webhooks could not take is sent again for about 4.5 minutes (backoff up to
                # 5 s): longer than the driver waits for idle, so an outage fails the run, loudly, before
                # the sandbox would give a report up and let simulated time move on without it.
                "SANDBOX_CALLBACK_RETRIES": "60",
                # The driver answers every call at its menu (keys or silence) at its next idle reading:
                # this only bounds the wait for a driver that stopped reading.
                "SANDBOX_GATHER_WAIT_MS": "60000",
                "SANDBOX_SEED": str(options.seed),
            },
            "SANDBOX_READY",
            logs,
        )
        stack.services["webhooks"] = Service(
            "webhooks",
            ["services.webhooks", "run"],
            common
            | {
                "COLLECTIONS_METRICS_PORT": str(free_port()),
                "WEBHOOKS_PORT": str(hook_port),
                "WEBHOOKS_PUBLIC_BASE_URL": stack.webhooks_url,
                "WEBHOOKS_TWILIO_AUTH_TOKENS": token,
                "WEBHOOKS_LINK_SIGNING_KEYS": link_key,
                "WEBHOOKS_AGENT_NUMBER": "+18005550102",
                "WEBHOOKS_PROMISE_DAYS": "3",
            },
            "METRICS_READY",
            logs,
        )
        stack.services["gatekeeper"] = Service(
            "gatekeeper",
            ["services.gatekeeper", "run"],
            common
            | {
                "COLLECTIONS_METRICS_PORT": str(free_port()),
                "GATEKEEPER_SIGNING_KEY": signing_key,
            },
            "METRICS_READY",
            logs,
        )
        stack.services["escalation"] = Service(
            "escalation",
            ["services.escalation", "run"],
            common
            | {
                "COLLECTIONS_METRICS_PORT": str(free_port()),
                "ESCALATION_STRATEGY": str(options.strategy),
            },
            "METRICS_READY",
            logs,
        )
        for channel in Channel:
            stack.services[f"channels-{channel.value}"] = Service(
                f"channels-{channel.value}",
                ["services.channels", "run", "--channel", channel.value],
                common
                | {
                    "COLLECTIONS_METRICS_PORT": str(free_port()),
                    "CHANNELS_TWILIO_BASE_URL": stack.sandbox_url,
                    "CHANNELS_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                    "CHANNELS_TWILIO_AUTH_TOKEN": token,
                    "CHANNELS_SMS_FROM": SMS_FROM,
                    "CHANNELS_VOICE_FROM": VOICE_FROM,
                    "CHANNELS_WEBHOOKS_BASE_URL": stack.webhooks_url,
                    "CHANNELS_LINK_SIGNING_KEYS": link_key,
                    "CHANNELS_APPROVAL_KEYS": approval_key,
                    "CHANNELS_SMTP_HOST": "127.0.0.1",
                    "CHANNELS_SMTP_PORT": str(smtp_port),
                    "CHANNELS_SMTP_CA_FILE": str(out / "smtp-ca.pem"),
                    "CHANNELS_RATE_PER_SECOND": "500",
                    "CHANNELS_RATE_BURST": "500",
                    "CHANNELS_RECONCILE_DELAY_SECONDS": "0.2",
                },
                "METRICS_READY",
                logs,
            )
        if options.core == "fineract":
            stack.services["fineract"] = Service(
                "fineract",
                ["services.fineract", "run"],
                common
                | {"COLLECTIONS_METRICS_PORT": str(free_port()), "FINERACT_ADAPTER_TOPIC": FINERACT_TOPIC},
                "METRICS_READY",
                logs,
            )
        return stack

    def start(self) -> None:
        out = self.options.out
        if _running(out / "kafka"):
            print(f"stopping the broker still serving the last demo's log ({out / 'kafka'})", flush=True)
            localkafka.main(["stop", "--dir", str(out / "kafka")])
        port = self.options.kafka_port
        if port and not _port_free(port):
            # Another demo on this machine has it: run anyway; `up` finds the port in the broker's directory.
            print(f"port {port} is in use: this demo's broker takes a free port instead", flush=True)
            port = 0
        shutil.rmtree(out, ignore_errors=True)
        (out / "acks").mkdir(parents=True)
        (out / APPROVAL_KEY_FILE).write_text(self.approval_key + "\n")
        write_stepped(out / "clock.json", datetime.combine(START, dtime(), tzinfo=UTC))
        # Made again now that the directory is empty: a broker is formatted with the ports it is given.
        self.kafka = LocalKafka(out / "kafka", port=port)
        self.kafka.start()
        asyncio.run(apply(self.kafka.settings("admin")))
        if self.options.core == "fineract":
            asyncio.run(self._fineract_topic())
        for name, service in self.services.items():
            if name != "sandbox":  # every other process is a service with its own principal
                service.env.update(self.kafka.env(name))
        # Launched together, ready one by one: their start-up (mostly imports) overlaps.
        for service in self.services.values():
            service.launch()
        for name, service in self.services.items():
            service.wait_ready()
            if service.ready_marker == "METRICS_READY":
                self.metrics[name] = service.ready_line.split()[-1]

    async def _fineract_topic(self) -> None:
        """Fineract's own topic, outside the catalog, as the bank creates it: the adapter reads it, core
        banking (the simulator) writes it."""
        admin = self.kafka.settings("admin")
        topic = TopicSpec(
            name=FINERACT_TOPIC, description="Fineract's external events", writers=[], readers=[]
        )
        catalog = load_catalog().model_copy(update={"topics": [topic]})
        await apply(admin, catalog=catalog, partitions=4, acl=False)
        grants = [
            Grant("fineract", "topic", FINERACT_TOPIC, "READ"),
            Grant("core-banking", "topic", FINERACT_TOPIC, "WRITE"),
        ]
        await apply_grants(admin, grants, {("topic", FINERACT_TOPIC)})

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.kafka.stop()

    def groups(self) -> dict[str, list[str]]:
        return {
            "gatekeeper": list(Gatekeeper.input_topics),
            "escalation": list(Escalation.input_topics),
            **{f"channels-{c.value}": [DISPATCH[c]] for c in Channel},
            **({"fineract": [FINERACT_TOPIC]} if self.options.core == "fineract" else {}),
        }


Hook = Callable[["Simulation"], Awaitable[None]]


@dataclass
class Hooks:
    """Where a fault test acts on the running platform without changing how the days are played.

    ``configured`` runs once the sandboxes are configured, before the first event is published. ``busy`` runs
    after every move of the clock and every publish, while the pipeline works on it and before the driver
    waits for it to be idle: simulated time cannot move on while a hook runs.
    """

    configured: Hook | None = None
    busy: Hook | None = None


class Simulation:
    """Plays the days: core banking's nights, the customers' reactions, the clock."""

    def __init__(self, stack: Stack, debtors: list[Debtor], hooks: Hooks | None = None) -> None:
        self.stack = stack
        self.options = stack.options
        self.hooks = hooks or Hooks()
        self.day = 0
        self.steps = 0  # clock stops: each costs an idle check of the whole pipeline
        self.debtors = debtors
        self.by_phone = {d.phone: d for d in debtors}
        self.by_email = {d.email: d for d in debtors if d.email}
        self.bank = CoreBanking(debtors)
        self.fineract = FineractBank() if self.options.core == "fineract" else None
        self.customers = Customers(self.options.seed, self.bank)
        self.settings = stack.kafka.settings("core-banking")
        self.actions: list[tuple[datetime, str, str, int, Payment | AgentPromise]] = []
        self._seq = itertools.count()
        self.seen = {"messages": 0, "mail": 0, "calls": 0}
        self.answered: set[str] = set()
        self.counts: dict[str, int] = {}
        self.ledger: dict[str, int] = {}

    async def run(self) -> None:
        out = self.options.out
        control = {"Authorization": f"Bearer {self.stack.services['sandbox'].env['SANDBOX_ADMIN_TOKEN']}"}
        sandbox = httpx.AsyncClient(base_url=self.stack.sandbox_url, timeout=30, headers=control)
        async with sandbox as self.http:
            await self._configure_sandbox()
            if self.hooks.configured is not None:
                await self.hooks.configured(self)
            groups = self.stack.groups()
            async with Stepper(
                self.stack.kafka.settings("admin"),
                out / "clock.json",
                out / "acks",
                groups,
                ["gatekeeper", "escalation"],
                [self._sandbox_idle],
            ) as self.stepper:
                self.stepper.now = datetime.combine(START, dtime(), tzinfo=UTC)
                self.publisher = Publisher(
                    KafkaConnector(self.settings).producer("simulator"),
                    self.settings,
                    "simulator",
                    "/core-banking",
                )
                await self.publisher.start()
                if self.fineract is not None:
                    self.fineract_producer = KafkaConnector(self.settings).producer("fineract")
                    await self.fineract_producer.start()
                try:
                    await self._publish([d.profile() for d in self.debtors])
                    with DayProgress(self.options.days) as progress:
                        for day in range(self.options.days):
                            await self._play(day)
                            progress.update(day + 1, figures(self.counts, self.bank.recovered, self.steps))
                    await self._advance(
                        datetime.combine(START + timedelta(days=self.options.days), dtime(), tzinfo=UTC)
                    )
                finally:
                    await self.publisher.stop()
                    if self.fineract is not None:
                        await self.fineract_producer.stop()
            self.ledger = await self._received()

    async def _play(self, day: int) -> None:
        """Day ``day`` (from 0): the night's batch of core banking, with what was booked during the day."""
        self.day = day + 1
        today = START + timedelta(days=day)
        night = datetime.combine(today, dtime(2), tzinfo=UTC)
        await self._advance(night)
        for action in self.customers.self_cures(today, night):
            if isinstance(action, Payment):
                self._schedule(action)
        await self._publish([*self._booked(), *self.bank.end_of_day(today, night)])

    async def _received(self) -> dict[str, int]:
        """What the providers received: messages and calls created at the Twilio sandbox, mail stored."""
        messages = (await self.http.get("/_sandbox/messages")).json()["messages"]
        calls = (await self.http.get("/_sandbox/calls")).json()["calls"]
        mail = (await self.http.get("/_sandbox/mail")).json()["mail"]
        return {
            "sms": sum(1 for m in messages if m["direction"] == "outbound-api"),
            "email": len(mail),
            "voice": len(calls),
        }

    # ---- time ----------------------------------------------------------------------------------

    async def _advance(self, to: datetime) -> None:
        """Move the clock to ``to``, stopping wherever a service has work due; the customers react to what
        reached them at each stop."""
        while (target := self.stepper.next_due()) is not None and target <= to:
            if target <= self._now:
                raise RuntimeError(f"work due at {target} is still pending at {self._now}")
            await self._step_to(target)
        if to > self._now:
            await self._step_to(to)

    async def _step_to(self, instant: datetime) -> None:
        self.steps += 1
        self.stepper.move(instant)
        await self._settle()
        await self._harvest()

    async def _settle(self) -> None:
        """Let a hook act while the pipeline is busy, then wait until it is idle."""
        if self.hooks.busy is not None:
            await self.hooks.busy(self)
        await self.stepper.wait_idle(300)

    @property
    def now(self) -> datetime:
        """The simulated time the pipeline is at."""
        return self._now

    @property
    def _now(self) -> datetime:
        assert self.stepper.now is not None
        return self.stepper.now

    def _schedule(self, action: Payment | AgentPromise) -> None:
        # Ties at one instant go by account, not by the order the contacts were harvested in.
        heapq.heappush(
            self.actions, (action.at, action.debtor_id, action.account_id, next(self._seq), action)
        )

    def _booked(self) -> list[BaseModel]:
        """Payments and promises taken during the day, booked by core banking in its end-of-day batch."""
        events: list[BaseModel] = []
        while self.actions and self.actions[0][0] <= self._now:
            *_, action = heapq.heappop(self.actions)
            if isinstance(action, Payment):
                events.extend(self.bank.pay(action))
            else:
                events.extend(self.bank.promise(action))
                for follow in self.customers.on_promise_date(action):
                    if isinstance(follow, Payment):
                        self._schedule(follow)
        return events

    async def _react(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Reply):
                # A reply goes at once, through the phone network, like a real one.
                debtor = self.bank.debtors[action.debtor_id]
                await self.http.post(
                    "/_sandbox/inbound", json={"From": debtor.phone, "To": SMS_FROM, "Body": action.body}
                )
                self._count("replies")
            elif isinstance(action, Payment | AgentPromise):
                self._schedule(action)

    async def _harvest(self) -> None:
        """Look at what reached the customers' phones and mailboxes, and decide how they react."""
        now = self._now
        messages = (await self.http.get("/_sandbox/messages", params={"after": self.seen["messages"]})).json()
        replies = False
        for message in messages["messages"]:
            self.seen["messages"] += 1
            debtor = self.by_phone.get(message["to"])
            if debtor is not None and message["status"] == "delivered":
                actions = self.customers.on_message(debtor.debtor_id, Channel.SMS, _contact_key(message), now)
                replies |= any(isinstance(a, Reply) for a in actions)
                await self._react(actions)
        mail = (await self.http.get("/_sandbox/mail", params={"after": self.seen["mail"]})).json()
        for item in mail["mail"]:
            self.seen["mail"] += 1
            for rcpt in item["rcpt_tos"]:
                debtor = self.by_email.get(rcpt)
                if debtor is not None:
                    key = item["message_id"] or item["id"]
                    await self._react(self.customers.on_message(debtor.debtor_id, Channel.EMAIL, key, now))
        if replies:
            await self.stepper.wait_idle(300)

    async def _sandbox_idle(self) -> bool:
        """The stepper's probe: answer calls waiting at the menu, then report whether the sandbox is idle."""
        calls = (await self.http.get("/_sandbox/calls", params={"after": self.seen["calls"]})).json()["calls"]
        acted = False  # a menu answered: the call moves on, so not idle yet
        for call in calls:
            if call["awaiting_input"] and call["sid"] not in self.answered:
                debtor = self.by_phone.get(call["to"])
                self.answered.add(call["sid"])
                assert self.stepper.now is not None
                actions = (
                    self.customers.on_call(
                        debtor.debtor_id, _contact_key(call), call["sid"], self.stepper.now
                    )
                    if debtor is not None
                    else []  # not one of ours: silence
                )
                for action in actions:
                    if isinstance(action, Keypad):
                        await self.http.post(
                            f"/_sandbox/calls/{action.call_sid}/digits", data={"Digits": action.digits}
                        )
                    else:
                        await self._react([action])
                if not any(isinstance(action, Keypad) for action in actions):
                    # Listens and presses nothing: the menu times out now, not after seconds of wall time.
                    await self.http.post(f"/_sandbox/calls/{call['sid']}/silence")
                acted = True
        finished = 0
        for call in calls:
            if call["status"] in ("completed", "no-answer", "busy", "failed", "canceled"):
                finished += 1
            else:
                break
        self.seen["calls"] += finished
        idle = (await self.http.get("/_sandbox/idle")).json()
        return not acted and not any(idle.values())

    # ---- I/O -----------------------------------------------------------------------------------

    async def _configure_sandbox(self) -> None:
        await self.http.post("/_sandbox/faults", json={"numbers": sandbox_faults(self.debtors)})
        bouncing = {
            d.email: {"code": 550, "stage": "rcpt", "message": "mailbox unavailable"}
            for d in self.debtors
            if d.email and d.persona.bounces_email
        }
        await self.http.post("/_sandbox/mail/faults", json={"recipients": bouncing})

    async def _publish(self, events: list[BaseModel]) -> None:
        now = self.stepper.now
        assert now is not None
        for event in events:
            self._count(type(event).__name__)
        if self.fineract is not None:
            events, records = self.fineract.split(events, now)
            # Keyed by the loan, no headers, as Fineract writes them.
            sent = [await self.fineract_producer.send(FINERACT_TOPIC, r.value, key=r.key) for r in records]
            await asyncio.gather(*sent)
        await self.publisher.publish([(event, str(uuid.uuid4())) for event in events], now)
        await self._settle()

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def _contact_key(resource: dict[str, Any]) -> str:
    """What a customer's reaction to a message or call is seeded by: the platform's request id, the same in
    every run of a seed whatever the provider calls the message or call, else its sid."""
    return str(resource.get("request_id") or resource["sid"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo",
        description=__doc__,
        epilog="up: serve the last run's event log again (its broker, on the port it ran on) and print how "
        "to query it; env: the settings of the reporting commands for that broker; down: stop it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", choices=["run", "up", "env", "down"], default="run")
    parser.add_argument("--size", type=int, default=Options.size, help="debtors (default 2000)")
    parser.add_argument("--days", type=int, default=Options.days, help="simulated days (default 60)")
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--strategy", type=Path, default=Options.strategy)
    parser.add_argument(
        "--core",
        choices=("platform", "fineract"),
        default=Options.core,
        help="core banking speaks the platform's contract (default) or is Apache Fineract",
    )
    parser.add_argument(
        "--out", type=Path, default=Options.out, help="working directory, emptied first (default var/demo)"
    )
    parser.add_argument(
        "--kafka-port",
        type=int,
        default=DEMO_KAFKA_PORT,
        help=f"the broker's port, kept for `up` (default {DEMO_KAFKA_PORT}; 0: any free port)",
    )
    args = parser.parse_args(argv)
    if args.command != "run":
        return serve(args.command, args.out)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    options = Options(
        size=args.size,
        days=args.days,
        seed=args.seed,
        strategy=args.strategy,
        out=args.out,
        kafka_port=args.kafka_port,
        core=args.core,
    )
    stack = Stack.build(options)
    services = len(stack.services) - 1
    print(
        f"starting Kafka, the sandboxes and {services} services (logs in {options.out / 'logs'}) ...",
        flush=True,
    )
    # SIGTERM as well as Ctrl-C: every process the demo started is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start()
        debtors = population(options)
        print(
            f"{len(debtors)} debtors, {sum(len(d.loans) for d in debtors)} overdue accounts, "
            f"{options.days} days from {START}",
            flush=True,
        )
        simulation = Simulation(stack, debtors)
        asyncio.run(simulation.run())
        return report(stack, simulation.ledger)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process", file=sys.stderr)
        return 130
    except ConfigError as exc:  # e.g. no exchange rate for an amount's date: one line, as every command
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.stop()


def population(options: Options) -> list[Debtor]:
    """The seeded debtors, numbered as Fineract numbers them when core banking is Fineract."""
    debtors = generate(options.seed, options.size, START)
    if options.core == "fineract":
        fineract_ids(debtors)
    return debtors


def serve(command: str, out: Path) -> int:
    """``up``, ``env`` or ``down``: the broker of the last run in ``out``, whose data the demo leaves."""
    kafka_dir = out / "kafka"
    if not (kafka_dir / "server.properties").exists():
        print(f"demo: no demo broker in {kafka_dir}: run `make demo` first", file=sys.stderr)
        return 2
    if command == "down":
        return localkafka.main(["stop", "--dir", str(kafka_dir)]) if _running(kafka_dir) else 0
    kafka = LocalKafka(kafka_dir)  # on the ports it was formatted with
    if command == "env":
        exports = kafka.env("reporting")
        if (out / APPROVAL_KEY_FILE).exists():  # absent in the directory of an older demo: no audit then
            exports["AUDIT_APPROVAL_KEYS"] = (out / APPROVAL_KEY_FILE).read_text().strip()
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if not _running(kafka_dir):
        code = localkafka.main(["start", "--dir", str(kafka_dir), "--port", str(kafka.port)])
        if code:
            return code
    print(query_hint(out, kafka.bootstrap, running=True))
    return 0


def query_hint(out: Path, bootstrap: str, *, running: bool) -> str:
    """How to query a run's event log: after ``make demo-up`` once the demo has stopped its broker."""
    shown = _shown(out)
    command = ".venv/bin/python -m devtools.demo"
    if out.resolve() == Options.out.resolve():
        up, down, env = "make demo-up", "make demo-down", f"{command} env"
    else:
        up, down, env = (f"{command} {verb} --out {shown}" for verb in ("up", "down", "env"))
    lines = [
        f"The demo's event log is served on {bootstrap} (`{down}` stops it). In this shell:"
        if running
        else f"The event log stays in {shown}/kafka: `{up}` serves it again on {bootstrap}, then:",
        f'  eval "$({env})"',
        "  .venv/bin/collections reporting history D000042    # one debtor's story, in time order",
        "  .venv/bin/collections reporting audit",
        f"  .venv/bin/collections reporting report --html {shown}/report.html",
    ]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (what a reader types), else as given."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _running(kafka_dir: Path) -> bool:
    try:
        os.kill(int((kafka_dir / "kafka.pid").read_text()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def report(stack: Stack, ledger: dict[str, int]) -> int:
    """The effectiveness report and the independent audit, computed from the topics alone, reconciled with
    what the provider sandboxes received."""
    settings = stack.kafka.settings("reporting")
    records = asyncio.run(read_records(settings))
    result = compute([record.envelope for record in records])
    checked = audit(*provenance.check(records, ApprovalVerifier([stack.approval_key])))
    print(render_text(result, checked))
    html = stack.options.out / "report.html"
    html.write_text(render_html(result, checked), encoding="utf-8")
    document = {"report": result.model_dump(mode="json"), "audit": checked.model_dump(mode="json")}
    (stack.options.out / "report.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    # A call the provider placed but that never connected is not an attempt in the report, yet was received.
    reported = {
        c.channel: c.attempted + c.outcomes.get("not_connected", 0) * (c.channel == "voice")
        for c in result.channels
    }
    print("\nreconciliation with the sandboxes (sends in the report = contacts the providers received):")
    mismatch = False
    for channel, received in ledger.items():
        sent = reported.get(channel, 0)
        mismatch |= sent != received
        verdict = "ok" if sent == received else "MISMATCH"
        print(f"  {channel:6} report {sent:6}   sandbox {received:6}   {verdict}")
    print(f"\nHTML report: {html}; the report and the audit as JSON: {html.with_suffix('.json')}")
    print(query_hint(stack.options.out, stack.kafka.bootstrap, running=False))
    return 1 if checked.violations or mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
