"""The `memzoo` command."""

import argparse
import os
import sys

from memzoo.version import __version__


class _ArgumentParser(argparse.ArgumentParser):
    """Reports a usage error on one line, as every memzoo error is reported."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser():
    parser = _ArgumentParser(
        prog="memzoo",
        description="A Keras 3 model zoo of memory-augmented sequence models.",
    )
    parser.add_argument(
        "--version", action="version", version=f"memzoo {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_ArgumentParser
    )
    commands.required = True
    list_parser = commands.add_parser(
        "list", help="List the presets: model, parameters, shipped weights."
    )
    list_parser.set_defaults(handler=_list_presets)
    return parser


def _list_presets(args):
    import memzoo

    rows = [("preset", "model", "parameters", "weights", "description")]
    for name in memzoo.list_presets():
        preset = memzoo.get_preset(name)
        model = memzoo.models.presets.preset_class(name).from_preset(name)
        model.build((None, None))
        rows.append(
            (
                name,
                preset["class_name"],
                f"{model.count_params():,}",
                "shipped" if preset["weights"] else "none (config only)",
                preset["description"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells + [row[-1]]))


def main(argv=None):
    """Runs the `memzoo` command; returns its exit status."""
    # TensorFlow's C++ start-up chatter is not the user's business.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"memzoo {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
