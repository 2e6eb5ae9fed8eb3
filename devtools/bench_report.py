"""The benchmark's report: figures gathered by the stages, the machine they ran on, the performance targets,
the JSON written to var/bench/ and the table printed on the terminal."""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from devtools.bench_kafka import Drain
from services.core.settings import DEPLOY_DIR

# Every figure a complete report has, by the stage that measures it (dotted paths into the JSON); the smoke
# test checks that each is there and positive.
FIGURES: dict[str, tuple[str, ...]] = {
    "baseline": (
        "baseline.overdue.events_per_s",
        "baseline.requests.events_per_s",
        "baseline.approvals.events_per_s",
    ),
    "escalation": ("stages.escalation.events_per_s", "stages.escalation.ratio_to_baseline"),
    "gatekeeper": ("stages.gatekeeper.events_per_s", "stages.gatekeeper.ratio_to_baseline"),
    "sms": (
        "stages.sms_worker.events_per_s",
        "stages.sms_worker.ratio_to_baseline",
        "stages.sms_worker.ratio_to_sandbox",
        "sandbox.creates_per_s",
    ),
    "signing": (
        "signing.sign_us_per_approval",
        "signing.verify_us_per_approval",
        "signing.sign_share_of_baseline",
        "signing.verify_share_of_baseline",
    ),
    "end-of-day": ("end_of_day.seconds_to_last_decision", "end_of_day.extrapolated_1m_seconds"),
    "latency": (
        "latency.request_to_approval_ms.p50",
        "latency.request_to_approval_ms.p99",
        "latency.request_to_approval_ms.max",
        "latency.stop_ms.p50",
        "latency.stop_ms.p99",
        "latency.stop_ms.max",
    ),
    "scale": (
        "scale.rss_bytes_state_loaded",
        "scale.rss_bytes_1m_estimate",
        "scale.changelog_disk_bytes",
        "scale.restore_seconds",
        "scale.one_worker.events_per_s",
        "scale.two_workers.events_per_s",
        "scale.two_to_one",
    ),
    "pipeline": ("pipeline.cpu_seconds_per_1000",),
}

GIB = 1024**3


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max (nearest rank) of millisecond samples."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))])

    return {"count": len(ordered), "p50": rank(0.50), "p99": rank(0.99), "max": float(ordered[-1])}


def lookup(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, None when any part is missing."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class Report:
    sizes: dict[str, Any]
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    sandbox: dict[str, Any] = field(default_factory=dict)
    end_of_day: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    signing: dict[str, Any] = field(default_factory=dict)
    # The same stages on a PLAINTEXT broker without ACLs in the same run, against these (``--security both``).
    security: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    def stage(
        self,
        name: str,
        drain: Drain,
        baseline: str,
        *,
        cpu: dict[str, float],
        roles: list[str],
        profile: dict[str, dict[str, float]] | None = None,
        **extra: Any,
    ) -> None:
        """A stage's drain, as events/s and as a ratio to the baseline over the same kind of events; and the
        CPU its own processes (``roles``) spent per event, with the same ratio computed on CPU, which other
        load on the machine disturbs far less than it disturbs wall-clock rates."""
        ceiling = self.baseline.get(baseline, {})
        cost = _per_event_us(sum(cpu.get(role, 0.0) for role in roles), drain.events)
        self.stages[name] = {
            "events": drain.events,
            "seconds": round(drain.seconds, 2),
            "events_per_s": round(drain.per_second, 1),
            "baseline": baseline,
            "ratio_to_baseline": _ratio(drain.per_second, ceiling.get("events_per_s")),
            "cpu_us_per_event": cost,
            "cpu_ratio_to_baseline": _ratio(ceiling.get("cpu_us_per_event"), cost),
            "others_load": others_load(cpu, drain.seconds),
            "cpu_seconds": cpu,
            **extra,
        }
        if profile:
            self.profiles[name] = profile

    def add_baseline(self, name: str, drain: Drain, cpu: dict[str, float]) -> None:
        self.baseline[name] = {
            "events": drain.events,
            "seconds": round(drain.seconds, 2),
            "events_per_s": round(drain.per_second, 1),
            "cpu_us_per_event": _per_event_us(cpu.get("bench", 0.0), drain.events),
            "others_load": others_load(cpu, drain.seconds),
            "cpu_seconds": cpu,
        }

    def add_signing(self, approvals: int, sign_cpu: float, verify_cpu: float) -> None:
        ceiling = self.baseline.get("approvals", {}).get("cpu_us_per_event")
        sign, verify = _per_event_us(sign_cpu, approvals), _per_event_us(verify_cpu, approvals)
        self.signing = {
            "approvals": approvals,
            "sign_us_per_approval": sign,
            "verify_us_per_approval": verify,
            # What signing and verifying add to the baseline's own CPU per approval (consume, decode, encode,
            # produce, commit): a share of one hop of the pipeline.
            "sign_share_of_baseline": _ratio(sign, ceiling),
            "verify_share_of_baseline": _ratio(verify, ceiling),
        }

    def compare_security(self, insecure: Report) -> None:
        """Each stage's figures without security beside these, and on/off ratios (above 1: security costs)."""
        stages = {}
        for name, on in self.stages.items():
            off = insecure.stages.get(name)
            if off is None:
                continue
            stages[name] = {
                "events_per_s": {"on": on["events_per_s"], "off": off["events_per_s"]},
                "cpu_us_per_event": {"on": on["cpu_us_per_event"], "off": off["cpu_us_per_event"]},
                "cpu_on_to_off": _ratio(on["cpu_us_per_event"], off["cpu_us_per_event"]),
                "rate_off_to_on": _ratio(off["events_per_s"], on["events_per_s"]),
                "cpu_ratio_to_baseline": {
                    "on": on["cpu_ratio_to_baseline"],
                    "off": off["cpu_ratio_to_baseline"],
                },
            }
        self.security = {"without": insecure.as_dict(), "stages": stages}

    def finish(self, mode: str, seconds: float, *, secure: bool = True) -> None:
        self.run = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "mode": mode,
            "security": "on" if secure else "off",
            "seconds": round(seconds, 1),
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        }
        self.machine = machine()

    def targets(self) -> list[dict[str, Any]]:
        """The platform's performance targets against this run's figures; ``met`` is None where the figure is
        missing."""
        data = self.as_dict()
        rows = [
            ("escalation >= 50% of baseline", "stages.escalation.ratio_to_baseline", 0.5, ">="),
            ("gatekeeper >= 50% of baseline", "stages.gatekeeper.ratio_to_baseline", 0.5, ">="),
            ("p99 request-to-approval < 250 ms at 500/s", "latency.request_to_approval_ms.p99", 250, "<"),
            ("stop latency p99 < 1 s", "latency.stop_ms.p99", 1000, "<"),
            ("1M debtors of gatekeeper state < 1 GiB RSS", "scale.rss_bytes_1m_estimate", GIB, "<"),
            ("end of day, 1M accounts < 10 min", "end_of_day.extrapolated_1m_seconds", 600, "<"),
            ("2 processes >= 1.4x of 1", "scale.two_to_one", 1.4, ">="),
        ]
        result = []
        for name, path, limit, op in rows:
            value = lookup(data, path)
            met = None if value is None else (value >= limit if op == ">=" else value < limit)
            result.append({"target": name, "figure": path, "value": value, "limit": limit, "met": met})
        return result

    def as_dict(self) -> dict[str, Any]:
        data = {
            "run": self.run,
            "machine": self.machine,
            "sizes": self.sizes,
            "baseline": self.baseline,
            "stages": self.stages,
            "sandbox": self.sandbox,
            "end_of_day": self.end_of_day,
            "latency": self.latency,
            "scale": dict(self.scale),
            "pipeline": self.pipeline,
            "profiles": self.profiles,
            "signing": self.signing,
            "security": {k: v for k, v in self.security.items() if k != "without"},
        }
        debtors = self.scale.get("debtors")
        if debtors:
            # The empty process plus the state's growth scaled linearly to 1,000,000 (measured on a full run).
            empty, loaded = self.scale["rss_bytes_empty"], self.scale["rss_bytes_state_loaded"]
            data["scale"]["rss_bytes_1m_estimate"] = round(empty + (loaded - empty) * 1_000_000 / debtors)
        return data

    def as_json(self) -> dict[str, Any]:
        data = self.as_dict() | {"targets": self.targets()}
        if self.security:
            data["security"]["without"] = self.security["without"]
        return data

    def table(self) -> str:
        data = self.as_dict()
        lines = [
            f"collections bench, {self.run.get('mode')} run, {self.run.get('date')}",
            _machine_line(self),
        ]
        lines += [
            "",
            f"{'stage':34} {'events':>9} {'events/s':>10} {'x baseline':>10} {'CPU us/event':>13} "
            f"{'x (CPU)':>8} {'others':>7}",
        ]
        for name, figures in self.baseline.items():
            lines.append(
                f"{'baseline (' + name + ')':34} {figures['events']:>9} {figures['events_per_s']:>10} "
                f"{'':>10} {figures['cpu_us_per_event']:>13} {'':>8} {figures['others_load']:>7.0%}"
            )
        for name, figures in self.stages.items():
            lines.append(
                f"{name:34} {figures['events']:>9} {figures['events_per_s']:>10} "
                f"{_shown(figures['ratio_to_baseline']):>10} {figures['cpu_us_per_event']:>13} "
                f"{_shown(figures['cpu_ratio_to_baseline']):>8} {figures['others_load']:>7.0%}"
            )
        if self.sandbox:
            for label in ("serial", "concurrent"):
                name = f"sandbox, httpx creates ({label})"
                rate = self.sandbox[label]["creates_per_s"]
                lines.append(f"{name:34} {self.sandbox['creates']:>9} {rate:>10}")
        if self.signing:
            for what in ("sign", "verify"):
                us, share = self.signing[f"{what}_us_per_approval"], self.signing[f"{what}_share_of_baseline"]
                lines.append(
                    f"{what + ' one approval (Ed25519)':34} {self.signing['approvals']:>9} {'':>10} {'':>10} "
                    f"{us:>13} {_shown(share):>8}"
                )
        if self.security:
            lines += [
                "",
                f"{'security on / off, same run':34} {'events/s on':>12} {'off':>9} "
                f"{'CPU us on':>10} {'off':>9}",
            ]
            for name, row in self.security["stages"].items():
                rate, cpu = row["events_per_s"], row["cpu_us_per_event"]
                lines.append(f"{name:34} {rate['on']:>12} {rate['off']:>9} {cpu['on']:>10} {cpu['off']:>9}")
        lines.append("")
        for key, label, unit in (
            ("end_of_day.seconds_to_last_decision", "end of day: last decision after", "s"),
            ("end_of_day.extrapolated_1m_seconds", "end of day, 1M accounts (extrapolated)", "s"),
            ("latency.request_to_approval_ms.p50", "request -> approval p50", "ms"),
            ("latency.request_to_approval_ms.p99", "request -> approval p99", "ms"),
            ("latency.request_to_approval_ms.max", "request -> approval max", "ms"),
            ("latency.stop_ms.p50", "payment -> stop p50", "ms"),
            ("latency.stop_ms.p99", "payment -> stop p99", "ms"),
            ("latency.stop_ms.max", "payment -> stop max", "ms"),
            ("scale.restore_seconds", "gatekeeper restore of that state", "s"),
            ("scale.rss_bytes_state_loaded", "gatekeeper RSS with state", "MiB"),
            ("scale.rss_bytes_1m_estimate", "gatekeeper RSS, 1M debtors", "MiB"),
            ("scale.changelog_disk_bytes", "state changelog on disk", "MiB"),
            ("scale.one_worker.events_per_s", "decisions/s with that state, 1 worker", "/s"),
            ("scale.two_workers.events_per_s", "decisions/s, 2 workers", "/s"),
            ("scale.two_to_one", "2 workers / 1 worker", "x"),
            ("pipeline.cpu_seconds_per_1000", "CPU seconds per 1,000 contacts", "s"),
        ):
            value = lookup(data, key)
            if value is None:
                continue
            shown = f"{value / 2**20:.0f}" if unit == "MiB" else f"{value}"
            lines.append(f"{label:42} {shown:>10} {unit}")
        lines += ["", "targets:"]
        for row in self.targets():
            verdict = {True: "met", False: "NOT met", None: "not measured"}[row["met"]]
            lines.append(f"  {row['target']:46} {verdict:>13}   ({row['value']})")
        lines.append(
            f"\n'others': share of the cores busy outside the benchmark meanwhile; load average at end "
            f"{self.run.get('load_average_at_end')}. On a shared 2-core box compare ratios within one run."
        )
        return "\n".join(lines)


def _per_event_us(cpu_seconds: float, events: int) -> float:
    return round(cpu_seconds * 1e6 / max(events, 1), 1)


def others_load(cpu: dict[str, float], seconds: float) -> float:
    """The share of the machine's cores that processes outside the benchmark kept busy meanwhile."""
    return round(cpu.get("other", 0.0) / (max(seconds, 1e-6) * (os.cpu_count() or 1)), 2)


def _ratio(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 3) if part and whole else None


def machine() -> dict[str, Any]:
    pom = (DEPLOY_DIR / "kafka" / "pom.xml").read_text()
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kafka": found.group(1) if found else "unknown",
        "aiokafka": metadata.version("aiokafka"),
        "pydantic": metadata.version("pydantic"),
        "platform": platform.platform(),
    }


def _shown(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}"


def _machine_line(report: Report) -> str:
    m = report.machine
    return (
        f"{m.get('cores')} cores, Python {m.get('python')}, Kafka {m.get('kafka')}, "
        f"aiokafka {m.get('aiokafka')}, pydantic {m.get('pydantic')}"
    )
