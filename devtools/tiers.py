"""Run the test tiers one after another, printing how long each took; fail if any tier fails.

A tier with no tests yet (pytest exit code 5) counts as passed and says so.
"""

from __future__ import annotations

import subprocess
import sys
import time

TIERS = ("unit", "integration", "e2e", "fault")


def main(argv: list[str]) -> int:
    tiers = argv or list(TIERS)
    timings: list[tuple[str, float, str]] = []
    failed = False
    for tier in tiers:
        if tier not in TIERS:
            print(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}", file=sys.stderr)
            return 2
        print(f"\n=== {tier} tests ===", flush=True)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", f"tests/{tier}", "-q", "-p", "no:cacheprovider"]
        )
        elapsed = time.monotonic() - started
        status = {0: "passed", 5: "no tests"}.get(code, f"FAILED (exit {code})")
        failed |= code not in (0, 5)
        timings.append((tier, elapsed, status))
    print("\n=== test tiers ===")
    for tier, elapsed, status in timings:
        print(f"  {tier:12} {elapsed:7.1f}s  {status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
