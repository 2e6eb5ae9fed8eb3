"""``python -m services.publish FILE``, the same as ``collections publish FILE``."""

import sys

from services.core.cli import single
from services.publish.cli import PUBLISH

if __name__ == "__main__":
    sys.exit(single("python -m services.publish", PUBLISH))
