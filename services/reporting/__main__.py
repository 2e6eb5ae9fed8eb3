"""``python -m services.reporting``, the same as ``collections reporting``."""

import sys

from services.core.cli import main
from services.reporting.cli import COMMANDS

if __name__ == "__main__":
    sys.exit(main("python -m services.reporting", COMMANDS))
