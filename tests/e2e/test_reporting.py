"""The report, the history and the audit read from the real broker after escalation and the gatekeeper ran on
the stepped clock; the test plays the channel workers (it answers each approval with provider outcomes)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus
from services.core.settings import DEPLOY_DIR, REPO_ROOT, CommonSettings
from services.escalation.strategy import load_strategy
from services.reporting.audit import audit
from services.reporting.compute import compute
from services.reporting.history import history
from services.reporting.reader import read_log
from tests.e2e.conftest import Pipeline, night, profile
from tests.support import APPROVAL_PUBLIC_KEY, kafka_env

S = OutcomeStatus
EXPERIMENT = load_strategy(DEPLOY_DIR / "strategies" / "standard.toml").experiment
PROVIDER_STATUSES = {
    Channel.SMS: (S.SENT, S.DELIVERED),
    Channel.EMAIL: (S.SENT,),
    Channel.VOICE: (S.SENT, S.NO_ANSWER),
}


def one_per_arm(prefix: str) -> dict[str, str]:
    debtors: dict[str, str] = {}
    for i in range(1000):
        debtors.setdefault(EXPERIMENT.arm_for(f"{prefix}{i}"), f"{prefix}{i}")
    return debtors


def outcome(approval: ev.ContactApproved, status: OutcomeStatus, at: datetime) -> ev.ContactOutcome:
    return ev.ContactOutcome(
        debtor_id=approval.debtor_id,
        outcome_id=f"{approval.request_id}-{status.value}",
        request_id=approval.request_id,
        account_id=approval.account_id,
        channel=approval.channel,
        status=status,
        final=status is not S.SENT or approval.channel is Channel.EMAIL,
        provider="test",
        cost=Decimal("0.0079") if approval.channel is Channel.SMS and status is S.SENT else Decimal(0),
        strategy=approval.strategy,
        arm=approval.arm,
        occurred_at=at,
    )


async def play_channel_workers(pipeline: Pipeline, answered: set[str]) -> None:
    """Send every approval not yet answered, at the current simulated instant."""
    fresh = [a for a in pipeline.tail.of(ev.ContactApproved) if a.request_id not in answered]
    answered.update(a.request_id for a in fresh)
    events = [outcome(a, status, pipeline.now) for a in fresh for status in PROVIDER_STATUSES[a.channel]]
    if events:
        await pipeline.send(*events)


def run(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli(settings: CommonSettings, *args: str) -> subprocess.CompletedProcess[str]:
    """A reporting command as the reporting principal (read-only), checking signatures with the test keys."""
    env = {**os.environ, **kafka_env(settings), "AUDIT_APPROVAL_KEYS": APPROVAL_PUBLIC_KEY}
    return run("services.reporting", *args, env=env)


async def test_report_history_and_audit_from_the_topics(
    pipeline: Pipeline, settings: CommonSettings, tmp_path: Path
) -> None:
    arms = one_per_arm("rep")
    payer, other = arms["champion"], arms["early-voice"]
    await pipeline.send(profile(payer), profile(other))
    answered: set[str] = set()
    for dpd in range(1, 5):
        await pipeline.nights([payer, other], dpd, dpd)
        for hour in (14, 18, 22):  # 10:00, 14:00 and 18:00 in New York: whatever was approved goes out
            await pipeline.advance(night(dpd) + timedelta(hours=hour - 2))
            await play_channel_workers(pipeline, answered)
    await pipeline.send(
        ev.PaymentPosted(
            debtor_id=payer,
            account_id="a1",
            payment_id="paid-in-full",
            currency="USD",
            amount=Decimal(2400),
            outstanding_after=Decimal(0),
            posted_at=pipeline.now,
        )
    )
    assert answered, "the pipeline approved nothing to send"

    envelopes = await read_log(settings)
    report = compute(envelopes)
    assert {a.arm for a in report.arms} == {"champion", "early-voice"}
    assert report.total.attempted == len(answered)
    assert report.total.requested == len(pipeline.tail.of(ev.ContactRequested))
    champion = next(a for a in report.arms if a.arm == "champion")
    assert champion.recovered == {"USD": Decimal(2400)}
    assert (champion.accounts, champion.cured) == (1, 1)
    assert report.compliance.decisions["allow"] == len(answered)
    assert audit(envelopes).violations == []

    story = [e.kind for e in history(envelopes, payer)]
    assert story[:2] == ["profile", "overdue"]
    assert story[-1] == "payment"
    first_request = story.index("request")
    assert story[first_request : first_request + 4] == ["request", "decision", "approved", "outcome"]

    shown = cli(pipeline.principal("reporting"), "history", payer)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    kinds = [line.split()[1] for line in lines]
    assert kinds == story
    assert "+1212" not in shown.stdout and f"{payer}@example.com" not in shown.stdout
    assert "paid 2400 USD, 0 USD outstanding after (paid in full)" in lines[-1]

    html, document = tmp_path / "report.html", tmp_path / "report.json"
    printed = cli(pipeline.principal("reporting"), "report", "--html", str(html), "--json", str(document))
    assert printed.returncode == 0, printed.stderr
    assert "Per strategy arm" in printed.stdout and "0 violations" in printed.stdout
    assert html.read_text().count("<svg") >= 3
    assert orjson.loads(document.read_bytes())["report"]["total"]["recovered"] == {"USD": "2400"}
    assert cli(pipeline.principal("reporting"), "audit").returncode == 0


async def test_the_audit_command_finds_a_send_planted_at_23_local(
    pipeline: Pipeline, settings: CommonSettings
) -> None:
    arms = one_per_arm("aud")
    debtor = arms["champion"]
    await pipeline.send(profile(debtor))
    await pipeline.nights([debtor], 1, 1)
    await pipeline.advance(night(1) + timedelta(hours=12))  # 10:00 in New York
    [approval, *_] = pipeline.approvals(debtor)
    late = night(2) + timedelta(hours=1)  # 23:00 in New York
    await pipeline.advance(late)
    await pipeline.send(outcome(approval, S.SENT, late))

    # python -m services.audit is the same command; here with options instead of the environment.
    reporting = pipeline.principal("reporting")
    options = ["--bootstrap", reporting.kafka_bootstrap, "--prefix", reporting.topic_prefix]
    bare = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTIONS_")}
    credentials = {
        k: v
        for k, v in kafka_env(reporting).items()
        if k not in ("COLLECTIONS_KAFKA_BOOTSTRAP", "COLLECTIONS_TOPIC_PREFIX")
    }
    found = run(
        "services.audit", *options, env=bare | credentials | {"AUDIT_APPROVAL_KEYS": APPROVAL_PUBLIC_KEY}
    )
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"QUIET_HOURS debtor {debtor}" in found.stdout
    assert "23:00 in America/New_York" in found.stdout
    assert "AFTER_VALID_UNTIL" in found.stdout  # the approval ran out at 21:00
