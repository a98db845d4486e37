"""The `memzoo` command: `main` is the console script (also `python -m memzoo.cli`).

`parsers` reads the command line, `handlers` runs each subcommand.
"""

import os
import sys

from memzoo.cli.parsers import build_parser


def main(argv=None):
    """Runs the `memzoo` command; returns its exit status."""
    # TensorFlow's C++ start-up chatter is not the user's business.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except KeyboardInterrupt:
        print(f"memzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # Every error is one line unless --debug.
        if getattr(args, "debug", False):
            raise
        print(f"memzoo {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0


def _one_line(error):
    message = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, (ValueError, FileNotFoundError)):
        message = f"{type(error).__name__}: {message}"
    limit = 400
    return message if len(message) <= limit else message[: limit - 3] + "..."
