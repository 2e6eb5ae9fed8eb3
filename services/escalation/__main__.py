"""``python -m services.escalation``, the same as ``collections escalation``."""

import sys

from services.core.cli import main
from services.escalation.cli import COMMANDS

if __name__ == "__main__":
    sys.exit(main("python -m services.escalation", COMMANDS))
