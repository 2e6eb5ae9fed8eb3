"""``python -m services.portal``, the same as ``collections portal``."""

import sys

from services.core.cli import main
from services.portal.cli import COMMANDS

if __name__ == "__main__":
    sys.exit(main("python -m services.portal", COMMANDS))
