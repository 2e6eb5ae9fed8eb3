"""Provider faults on the whole platform, and what its logs show.

One run of the simulated bank in which 30% of Twilio creates (messages and calls) answer 429 or 500 or time
out, before or after creating; one in four email recipients is refused with 421 or 451 twice before the
relay accepts; and a few numbers and one address always fail. Each message, call and email then reaches its
provider once, or ends failed after the retry bound with nothing at the provider; every request ends once,
and the independent audit is clean.

The same run, with every service logging at INFO (the production default) and the error paths of the
faults exercised, is the "full flow" whose logs must not show what was seeded: phone numbers, email
addresses, names, amounts, the Twilio auth token and the link signing key.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import phonenumbers
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.demo import Hooks, Simulation
from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus
from services.channels.drivers import message_id
from tests.fault.stack import (
    CHANNELS,
    CONSUMERS,
    MAIL_DOMAIN,
    Ends,
    Platform,
    Played,
    check_audit_clean,
    check_every_request_ends_once,
    check_nothing_twice_at_the_providers,
    summary,
)

DAYS = 2
FAULT_KINDS = "rate_limited,error_before_create,error_after_create,timeout_before_create,timeout_after_create"
MAX_ATTEMPTS = 4
ENV: dict[str, dict[str, str]] = {
    "sandbox": {
        "SANDBOX_FAULT_RATIO": "0.3",
        "SANDBOX_FAULT_KINDS": FAULT_KINDS,
        # A timed-out create is held 1.5 s, longer than the workers wait for it (1 s).
        "SANDBOX_TIMEOUT_RESPONSE_MS": "1500",
    },
    **{
        name: {
            "CHANNELS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "CHANNELS_BACKOFF_INITIAL_SECONDS": "0.05",
            "CHANNELS_BACKOFF_MAX_SECONDS": "0.5",
            # Twilio workers give up on a create after 1 s; the email worker keeps its default, so that a slow
            # relay on a busy machine is not mistaken for a connection lost during DATA (which ends unknown).
            **({"CHANNELS_CREATE_TIMEOUT_SECONDS": "1"} if name != "channels-email" else {}),
        }
        for name in CHANNELS
    },
}
LOGGING = {name: {"COLLECTIONS_LOG_LEVEL": "INFO"} for name in (*CONSUMERS, "webhooks")}
MONEY_VARIABLES = frozenset({"amount_due", "total_outstanding", "plan_3", "plan_6", "plan_12"})

pytestmark = pytest.mark.timeout(240)


@dataclass(frozen=True)
class Run:
    platform: Platform
    played: Played
    ends: Ends
    failing_numbers: dict[str, str]  # phone -> the fault every create to it meets
    refusing: dict[str, dict[str, Any]]  # email address -> its SMTP fault
    retries: dict[str, Counter[str]]  # channel worker -> retries by reason
    test_log: list[str]  # what this test process logged meanwhile


@pytest.fixture(scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    started = time.monotonic()
    env = {name: ENV.get(name, {}) | LOGGING.get(name, {}) for name in {*ENV, *LOGGING}}
    platform = Platform(tmp_path_factory.mktemp("faults") / "stack", days=DAYS, env=env)
    ok = [d for d in platform.debtors if d.persona.sms_behaviour == "ok" and Channel.SMS in d.consents]
    failing = {d.phone: ("rate_limited", "error_before_create")[i % 2] for i, d in enumerate(ok[:30:5])}
    with_email = [d.email for d in platform.debtors if d.email and not d.persona.bounces_email]
    refusing: dict[str, dict[str, Any]] = {
        address: {"code": (421, 451)[i % 2], "stage": ("rcpt", "data")[i // 2 % 2], "times": 2}
        for i, address in enumerate(with_email[::4])
    }
    refusing.update({address: {"code": 451, "stage": "rcpt"} for address in with_email[1:80:8]})  # never

    async def configured(simulation: Simulation) -> None:
        # Every debtor's number has an explicit behaviour in the persona table (how they answer calls),
        # which would win over the random mix: keep the numbers that refuse messages, let the mix apply to
        # the rest.
        numbers: dict[str, str | None] = {
            d.phone: None for d in platform.debtors if d.persona.sms_behaviour == "ok"
        }
        numbers.update(failing)
        response = await simulation.http.post("/_sandbox/faults", json={"numbers": numbers})
        assert response.status_code == 200, response.text
        response = await simulation.http.post("/_sandbox/mail/faults", json={"recipients": refusing})
        assert response.status_code == 200, response.text

    captured = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(captured)
    root.setLevel(logging.INFO)
    try:
        async with platform:
            played = await platform.play(Hooks(configured=configured))
            retries = {name: await _retries(platform, name) for name in CHANNELS}
    finally:
        root.removeHandler(captured)
        root.setLevel(level)
    result = check_every_request_ends_once(played)
    print(f"\n{summary(played, result)} in {time.monotonic() - started:.0f}s; retries {retries}")
    return Run(platform, played, result, failing, refusing, retries, captured.lines)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def _retries(platform: Platform, service: str) -> Counter[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(platform.stack.metrics[service])).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "collections_channel_retries_total":
                counts[sample.labels["reason"]] += int(sample.value)
    return counts


def test_each_send_reaches_its_provider_once_or_fails_after_the_retry_bound(run: Run) -> None:
    played, result = run.played, run.ends
    check_nothing_twice_at_the_providers(played)
    check_audit_clean(played)

    requests = {r.request_id: r for r in played.events(ev.ContactRequested)}
    at_provider = {
        Channel.SMS: {m["request_id"] for m in played.messages},
        Channel.VOICE: {c["request_id"] for c in played.calls},
        Channel.EMAIL: {m["message_id"] for m in played.mail},
    }

    def reached(rid: str) -> bool:
        request = requests[rid]
        key = message_id(rid, MAIL_DOMAIN) if request.channel is Channel.EMAIL else rid
        return key in at_provider[request.channel]

    wrong = {rid: end for rid, end in result.ended.items() if reached(rid) != (end == "sent")}
    assert wrong == {}, "at the provider but not ended sent, or ended sent but not at the provider"

    # The faults happened: transient refusals and uncertain creates were retried or looked up.
    for name in ("channels-sms", "channels-voice"):
        assert run.retries[name]["transient"] > 0 and run.retries[name]["uncertain"] > 0, run.retries
    created_despite = Counter(item["fault"] for item in (*played.messages, *played.calls))
    assert created_despite["error_after_create"] > 0 and created_despite["timeout_after_create"] > 0

    # Numbers and an address that never accept: failed after the retry bound, with the provider's code.
    failures: defaultdict[str, set[tuple[OutcomeStatus, str | None]]] = defaultdict(set)
    for outcome in played.events(ev.ContactOutcome):
        if outcome.final and outcome.provider != "gatekeeper" and outcome.request_id in requests:
            failures[requests[outcome.request_id].destination].add((outcome.status, outcome.error_code))
    for kind in ("rate_limited", "error_before_create"):
        phones = [phone for phone, fault in run.failing_numbers.items() if fault == kind and failures[phone]]
        assert phones, f"no request to a number that always answers {kind} ended"
        assert {status for phone in phones for status, _ in failures[phone]} == {OutcomeStatus.FAILED}
    never = [a for a, fault in run.refusing.items() if "times" not in fault and failures[a]]
    assert never, "no request to an address that always answers 451 ended"
    assert {end for a in never for end in failures[a]} == {(OutcomeStatus.FAILED, "451")}
    delivered = {rcpt for mail in played.mail for rcpt in mail["rcpt_tos"]}
    assert not delivered & set(never)
    retried = [a for a, fault in run.refusing.items() if "times" in fault]
    refused_then_sent = [a for a in retried if a in delivered]
    assert refused_then_sent, "no address refused twice was then accepted"
    for address in refused_then_sent:
        assert {status for status, _ in failures[address]} <= {OutcomeStatus.SENT}, failures[address]


def test_logs_of_the_whole_flow_show_no_personal_data_or_secrets(run: Run) -> None:
    platform, played = run.platform, run.played
    logs = {path.name: path.read_text(errors="replace") for path in sorted(platform.logs.glob("*.log"))}
    assert {f"{name}.log" for name in platform.stack.services} <= set(logs)
    logs["this test"] = "\n".join(run.test_log)
    assert "request" in logs["channels-sms.log"], "the services logged nothing at INFO"

    seeded = dict(_seeded(platform, played))
    # The search finds them where they belong: in what the providers received.
    received = "\n".join(str(item) for item in (*played.messages, *played.mail))
    kinds = {what.split(" of ")[0] for value, what in seeded.items() if value in received}
    assert {"phone", "email", "name", "an amount"} <= kinds, kinds
    found = {(where, what) for where, text in logs.items() for value, what in seeded.items() if value in text}
    assert found == set(), sorted(found)[:20]
    events = "\n".join(e.event.model_dump_json() for e in played.log)
    assert [secret for secret in platform.secrets() if secret in events] == []


def _seeded(platform: Platform, played: Played) -> Iterator[tuple[str, str]]:
    """Every seeded value a log must not show, in the forms code could print it, with what it is."""
    for debtor in platform.debtors:
        national = str(phonenumbers.parse(debtor.phone).national_number)
        for form in (debtor.phone, debtor.phone.removeprefix("+"), national):
            yield form, f"phone of {debtor.debtor_id}"
        if debtor.email:
            yield debtor.email, f"email of {debtor.debtor_id}"
            yield debtor.email.replace("@", "%40"), f"email of {debtor.debtor_id}"
        yield debtor.name, f"name of {debtor.debtor_id}"
    for amount in _amounts(played):
        for form in (f"{amount:.2f}", f"{amount:,.2f}"):
            yield form, "an amount"
    for secret in platform.secrets():
        yield secret, "a secret"


def _amounts(played: Played) -> set[Decimal]:
    amounts: set[Decimal] = set()
    for envelope in played.log:
        event = envelope.event
        if isinstance(event, ev.ContactOutcome):
            continue  # costs of sends, not the debtor's money
        for name, value in event:
            if isinstance(value, Decimal):
                amounts.add(value)
            elif name == "variables":
                amounts.update(Decimal(v) for k, v in value.items() if k in MONEY_VARIABLES)
    return {a for a in amounts if a > 0}
