"""``python -m services.audit``, the same as ``collections audit`` and ``collections reporting audit``."""

import sys

from services.core.cli import single
from services.reporting.cli import AUDIT

if __name__ == "__main__":
    sys.exit(single("python -m services.audit", AUDIT))
