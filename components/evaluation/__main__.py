"""``python -m components.evaluation``: the evaluation command (``components.evaluation.cli``)."""

import sys

from components.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
