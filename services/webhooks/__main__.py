"""``python -m services.webhooks``, the same as ``collections webhooks``."""

import sys

from services.core.cli import main
from services.webhooks.cli import COMMANDS

if __name__ == "__main__":
    sys.exit(main("python -m services.webhooks", COMMANDS))
