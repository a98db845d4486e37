"""The `memzoo` command's arguments: a parser per subcommand."""

import argparse

from memzoo.cli import handlers
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
    list_parser.set_defaults(handler=handlers.list_presets)
    _add_train_parser(commands)
    _add_eval_parser(commands)
    _add_generate_parser(commands)
    _add_tune_parser(commands)
    _add_export_parser(commands)
    _add_probe_parser(commands)
    return parser


def _add_common_options(parser):
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    parser.add_argument("--data-dir", default=None,
                        help="tensorflow-datasets folder (default: "
                             "$TFDS_DATA_DIR, else a temporary folder)")


def _add_held_out_options(parser, data_help):
    """`--model`, `--data` and `--split`: a model and its held-out data."""
    parser.add_argument("--model", required=True,
                        help="a .keras file or preset directory from `memzoo "
                        "train`, or a preset name")
    parser.add_argument("--data", default=None, help=data_help)
    parser.add_argument("--split", default="test")


def _add_train_parser(commands):
    parser = commands.add_parser(
        "train", help="Train a language model preset; resumable.",
        description="Trains a language-model preset on a corpus with "
        "model.fit. Run the same command again to resume a killed run.",
    )
    parser.add_argument("--preset", default="biglm_tiny",
                        help="a preset name (`memzoo list`), trained from "
                             "fresh weights even when shipped (default: "
                             "biglm_tiny)")
    parser.add_argument("--data", default=None,
                        help="tfds name, text file or glob (default: the "
                             "preset's, else shakespeare_plays, else "
                             "python_stdlib)")
    parser.add_argument("--working-memory", type=int, default=None)
    parser.add_argument("--long-short-term-memory", type=int, default=None)
    parser.add_argument("--segment-length", type=int, default=None)
    parser.add_argument("--dropout", type=float, default=None,
                        help="dropout rate (default: the preset's)")
    parser.add_argument("--steps", type=int, default=None,
                        help="optimizer steps (default 1000)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the training split, instead of --steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="tokens per sequence, or a regressor's window "
                             "(default: the preset's, else 128)")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                        default="auto",
                        help="compile the training step with XLA (default: "
                             "whichever trains faster here, measured on a "
                             "batch for runs of 300 steps or more)")
    _add_stateful_options(parser)
    parser.add_argument("--mixed-precision", choices=["bfloat16", "float16"],
                        default=None)
    parser.add_argument("--strategy", default="default",
                        choices=["default", "mirrored", "multiworker", "tpu"])
    parser.add_argument("--tpu", default=None,
                        help="TPU name or grpc:// address for --strategy tpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backup-every", type=int, default=50,
                        help="steps between crash-safe backups")
    parser.add_argument("--validation-batches", type=int, default=50)
    parser.add_argument("--output", required=True, help="the run's folder")
    _add_common_options(parser)
    parser.set_defaults(handler=handlers.train)


def _add_stateful_options(parser):
    parser.add_argument("--stateful", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="carry the state from batch to batch, each row a "
                             "stream of the corpus (next-token models on a "
                             "corpus, on one machine; default: the family's, "
                             "on for LSTMLanguageModel, off for the others)")
    parser.add_argument("--stream-length", type=int, default=None,
                        help="when stateful, the tokens read between two "
                        "resets of the state, a multiple of --sequence-length "
                        "(default: 4 windows; 0: whole documents)")


def _add_eval_parser(commands):
    parser = commands.add_parser(
        "eval",
        help="Held-out scores: bits per character, accuracy, MAE or BLEU.",
        description=(
            "Scores a model on held-out data, in its own terms: bits per "
            "character (language models), answer accuracy (memory tasks), "
            "accuracy (classifiers), MAE in the series' units (regressors), "
            "BLEU (translators). A model file of a `memzoo train` run is "
            "scored on that run's data and sequence length unless told "
            "otherwise."
        ),
    )
    _add_held_out_options(parser, "default: the run's data, else the preset's")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: the run's, else 32")
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="default: the run's, else the preset's or 128")
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--beam-size", type=int, default=1,
                        help="a translator's beam (1: greedy)")
    parser.add_argument("--baseline", action="store_true",
                        help="also score what a model without skill scores")
    long_range = parser.add_argument_group(
        "recall at a distance (--long-range)",
        "A language model's pass-key retrieval in held-out text of its "
        "corpus and multi-query associative recall, by distance, beside its "
        "attention's reach; writes long_range.png and long_range.json to "
        "--output.",
    )
    long_range.add_argument("--long-range", action="store_true",
                            help="score recall at a distance instead")
    long_range.add_argument("--compare", nargs="+", default=[],
                            metavar="MODEL",
                            help="more models scored the same way (the M = 0 "
                            "twin, the LSTM of the same corpus)")
    long_range.add_argument("--distances", type=int, nargs="+",
                            default=[64, 256, 1024, 4096, 16384],
                            help="bytes between the pass key and the question "
                            "(default 64 256 1024 4096 16384)")
    long_range.add_argument("--depths", type=int, nargs="+",
                            default=[0, 256, 1024],
                            help="bytes of text before the pass key, the "
                            "trials spread over them (default 0 256 1024)")
    long_range.add_argument("--gaps", type=int, nargs="*",
                            default=[16, 64, 256, 1024],
                            help="MQAR gaps (default 16 64 256 1024)")
    long_range.add_argument("--trials", type=int, default=100,
                            help="pass keys per distance, queries per gap "
                            "(default 100)")
    long_range.add_argument("--seed", type=int, default=0)
    long_range.add_argument("--output", default=None,
                            help="folder of the results (default: none "
                            "written)")
    _add_common_options(parser)
    parser.set_defaults(handler=handlers.evaluate)


def _add_generate_parser(commands):
    parser = commands.add_parser("generate", help="Continue a prompt.")
    parser.add_argument("--model", required=True,
                        help="a .keras file or preset directory from `memzoo "
                        "train`, or a preset name")
    parser.add_argument("--prompt", required=True,
                        help="the text to continue; `-` reads standard input")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--sampler", default="top_k",
                        choices=["greedy", "random", "top_k", "top_p"])
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stream", action="store_true",
                        help="print each piece of text as it is made")
    parser.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                        default=True, help="compile the decode loop with XLA "
                        "(--stream runs one compiled step per token instead)")
    _add_common_options(parser)
    parser.set_defaults(handler=handlers.generate)


def _add_tune_parser(commands):
    parser = commands.add_parser(
        "tune", help="Search memory sizes with keras-tuner; resumable.",
        description="Trains a language-model preset once per trial with the "
        "working memory W, long-short-term memory M and segment length S a "
        "keras-tuner tuner draws, then prints the trials best first and "
        "writes OUTPUT/tuning_results.csv, OUTPUT/tuning.png and "
        "OUTPUT/best_model.keras. Run the same command again to continue an "
        "interrupted search; set KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP "
        "and KERASTUNER_ORACLE_PORT to search with a chief and workers.",
    )
    parser.add_argument("--preset", default="biglm_tiny")
    parser.add_argument("--data", default=None,
                        help="tfds name, text file or glob, or a memory task "
                             "such as associative_recall:num_pairs=1,distance=32 "
                             "(default: shakespeare_plays, else python_stdlib)")
    parser.add_argument("--tuner", default="random",
                        choices=["random", "bayesian", "hyperband", "grid"])
    parser.add_argument("--max-trials", type=int, default=None,
                        help="default 10; grid: every combination; hyperband: "
                             "set by its brackets")
    parser.add_argument("--working-memory-range", type=_range(int),
                        default=(16, 256), metavar="LO:HI",
                        help="W in LO, 2 LO, 4 LO, ... up to HI (default 16:256)")
    parser.add_argument("--long-short-term-memory-choices", type=_choices,
                        default=[0, 8, 32], metavar="M1,M2,...",
                        help="M's choices (default 0,8,32)")
    parser.add_argument("--segment-length-choices", type=_choices, default=None,
                        metavar="S1,S2,...", help="S's choices (default S = W)")
    parser.add_argument("--hidden-dim-choices", type=_choices, default=None,
                        metavar="D1,D2,...", help="widths to search (default: the preset's)")
    parser.add_argument("--num-layers-choices", type=_choices, default=None,
                        metavar="N1,N2,...", help="depths to search (default: the preset's)")
    parser.add_argument("--lstm-layers", type=int, default=None,
                        help="token LSTM layers of every trial (default: the preset's)")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--learning-rate-range", type=_range(float), default=None,
                        metavar="LO:HI", help="search the learning rate, log-uniform")
    parser.add_argument("--steps", type=int, default=200,
                        help="optimizer steps per trial")
    parser.add_argument("--epochs-per-trial", type=int, default=4,
                        help="validations per trial (Hyperband's budget unit)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="tokens per sequence, or a regressor's window "
                             "(default: the preset's, else 128)")
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--validation-batches", type=int, default=20)
    parser.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                        default=True, help="compile the training step with XLA")
    _add_stateful_options(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="the search's folder")
    _add_common_options(parser)
    parser.set_defaults(handler=handlers.tune)


def _add_export_parser(commands):
    parser = commands.add_parser(
        "export", help="Write a SavedModel for TF Serving (BASE/<version>/)."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a .keras file or preset directory "
                        "from `memzoo train`")
    source.add_argument("--preset", help="a preset (untrained)")
    parser.add_argument("--output", required=True,
                        help="the model's base folder, e.g. exports/biglm_tiny")
    parser.add_argument("--version", type=int, default=None,
                        help="default: 1 + the highest version present")
    # The limits a request is refused above (memzoo.export's docstring).
    parser.add_argument("--max-batch-size", type=int, default=None,
                        help="the most rows of a request (default 64)")
    parser.add_argument("--max-input-length", type=int, default=None,
                        help="the most tokens (a series: steps) per row of a "
                             "request (default 4096)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="the most `max_new_tokens` of a generate request "
                             "and `max_length` of a translate one (default 1024)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    parser.set_defaults(handler=handlers.export)


def _add_probe_parser(commands):
    parser = commands.add_parser(
        "probe",
        help="How far back a language model's carried state helps.",
        description=(
            "Reads held-out text as one stream with the model's state "
            "carried, and again with the state reset every k tokens; prints "
            "the bits per character each way, the gain of the carried state "
            "by distance since a reset, and the effective memory length (the "
            "distance past which carrying the state stops helping, within "
            "noise). Writes probe.png and probe.json to --output."
        ),
    )
    _add_held_out_options(parser,
                          "default: the run's data, else the default corpus")
    parser.add_argument("--max-tokens", type=int, default=131_072,
                        help="held-out tokens read (default 131,072)")
    parser.add_argument("--reset-every", type=int, nargs="+",
                        default=[16, 64, 256, 1024, 4096],
                        help="distances between resets; the longest sets the "
                        "reach probed (default 16 64 256 1024 4096)")
    parser.add_argument("--output", required=True, help="folder of the results")
    _add_common_options(parser)
    parser.set_defaults(handler=handlers.probe)


def _range(kind):
    """An argparse type: `LO:HI` -> (LO, HI)."""

    def parse(text):
        low, colon, high = text.partition(":")
        try:
            if not colon:
                raise ValueError
            return kind(low), kind(high)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected LO:HI with {kind.__name__} bounds, e.g. 16:256; "
                f"received {text!r}"
            ) from None

    return parse


def _choices(text):
    """An argparse type: `0,8,32` -> [0, 8, 32]."""
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, e.g. 0,8,32; received {text!r}"
        ) from None
