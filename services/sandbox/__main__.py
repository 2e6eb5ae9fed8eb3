"""``python -m services.sandbox``, the same as ``collections sandbox``."""

import sys

from services.core.cli import single
from services.sandbox.cli import SANDBOX

if __name__ == "__main__":
    sys.exit(single("python -m services.sandbox", SANDBOX))
