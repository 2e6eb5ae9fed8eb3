"""``python -m services.channels``, the same as ``collections channels``."""

import sys

from services.channels.cli import COMMANDS
from services.core.cli import main

if __name__ == "__main__":
    sys.exit(main("python -m services.channels", COMMANDS))
