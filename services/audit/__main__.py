"""``python -m services.audit [--bootstrap ...] [--prefix ...] [--json FILE]``: the same command as
``python -m services.reporting audit`` (the checks live in ``services.reporting.audit``); exit 1 on any
violation, 2 when the log cannot be read."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.reporting.__main__ import main as reporting


def main(argv: Sequence[str] | None = None) -> int:
    return reporting(["audit", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
