"""`python -m memzoo.cli`, the same as the `memzoo` command."""

import sys

from memzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
