"""``python -m services.fineract``, the same as ``collections fineract``."""

import sys

from services.core.cli import main
from services.fineract.cli import COMMANDS

if __name__ == "__main__":
    sys.exit(main("python -m services.fineract", COMMANDS))
