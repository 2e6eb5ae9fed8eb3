"""``python -m services.gatekeeper``, the same as ``collections gatekeeper``."""

import sys

from services.core.cli import main
from services.gatekeeper.cli import COMMANDS

if __name__ == "__main__":
    sys.exit(main("python -m services.gatekeeper", COMMANDS))
