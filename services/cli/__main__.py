"""``python -m services.cli``: the same as the ``kretslopp`` command."""

import sys

from services.cli import main

if __name__ == "__main__":  # not again in a process spawned by `rebuild --parts`
    sys.exit(main())
