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
    _add_train_parser(commands)
    _add_eval_parser(commands)
    _add_generate_parser(commands)
    _add_tune_parser(commands)
    _add_export_parser(commands)
    return parser


def _add_export_parser(commands):
    parser = commands.add_parser(
        "export", help="Write a SavedModel for TF Serving (BASE/<version>/)."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a .keras file from `memzoo train`")
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
    parser.set_defaults(handler=_export)


def _add_common_options(parser):
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    parser.add_argument("--data-dir", default=None,
                        help="tensorflow-datasets folder (default: "
                             "$TFDS_DATA_DIR, else a temporary folder)")


def _add_train_parser(commands):
    parser = commands.add_parser(
        "train", help="Train a language model preset; resumable.",
        description="Trains a language-model preset on a corpus with "
        "model.fit. Run the same command again to resume a killed run.",
    )
    parser.add_argument("--preset", default="biglm_tiny")
    parser.add_argument("--data", default=None,
                        help="tfds name, text file or glob (default: "
                             "shakespeare_plays, else python_stdlib)")
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
                        default=True, help="compile the training step with XLA")
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
    parser.set_defaults(handler=_train)


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
    parser.add_argument("--model", required=True,
                        help="a .keras file from `memzoo train`, or a preset")
    parser.add_argument("--data", default=None,
                        help="default: the run's data, else the preset's")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: the run's, else 32")
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="default: the run's, else the preset's or 128")
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--beam-size", type=int, default=1,
                        help="a translator's beam (1: greedy)")
    parser.add_argument("--baseline", action="store_true",
                        help="also score what a model without skill scores")
    _add_common_options(parser)
    parser.set_defaults(handler=_evaluate)


def _add_generate_parser(commands):
    parser = commands.add_parser("generate", help="Continue a prompt.")
    parser.add_argument("--model", required=True,
                        help="a .keras file from `memzoo train`, or a preset")
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
    parser.set_defaults(handler=_generate)


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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="the search's folder")
    _add_common_options(parser)
    parser.set_defaults(handler=_tune)


def _train(args):
    from memzoo import training

    metrics = training.train(
        args.output,
        preset=args.preset,
        data_source=args.data,
        overrides={
            "working_memory": args.working_memory,
            "long_short_term_memory": args.long_short_term_memory,
            "segment_length": args.segment_length,
            "dropout": args.dropout,
        },
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        sequence_length=args.sequence_length,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        jit_compile=args.jit_compile,
        mixed_precision=args.mixed_precision,
        strategy=args.strategy,
        seed=args.seed,
        backup_every=args.backup_every,
        validation_batches=args.validation_batches,
        data_dir=args.data_dir,
        tpu=args.tpu,
    )
    tokens_per_second = metrics["tokens_per_second"] or 0
    scores = [f"validation loss {metrics['validation_loss']:.4f}"]
    # A regressor's MAE here is of the normalized series; `memzoo eval`
    # gives it in the series' units.
    for name, label, digits in (("bits_per_character", "bits per character", 3),
                                ("accuracy", "accuracy", 4),
                                ("mae", "MAE (normalized)", 4)):
        if f"validation_{name}" in metrics:
            scores.append(f"{label} {metrics[f'validation_{name}']:.{digits}f}")
    print(f"{', '.join(scores)}; {metrics['steps']} steps, "
          f"{tokens_per_second:,.0f} tokens/s")
    output = metrics["output_dir"]
    print(f"model:   {os.path.join(output, training.MODEL_FILE)}")
    print(f"metrics: {os.path.join(output, training.METRICS_FILE)}")
    print(f"logs:    {os.path.join(output, 'logs')} (tensorboard --logdir)")


def _tune(args):
    from memzoo import tuning

    rows = tuning.tune(
        args.output,
        preset=args.preset,
        data_source=args.data,
        tuner=args.tuner,
        max_trials=args.max_trials,
        working_memory_range=args.working_memory_range,
        long_short_term_memory_choices=args.long_short_term_memory_choices,
        segment_length_choices=args.segment_length_choices,
        hidden_dim_choices=args.hidden_dim_choices,
        num_layers_choices=args.num_layers_choices,
        learning_rate=args.learning_rate,
        learning_rate_range=args.learning_rate_range,
        overrides={"lstm_layers": args.lstm_layers},
        steps=args.steps,
        epochs=args.epochs_per_trial,
        batch_size=args.batch_size,
        sequence_length=args.sequence_length,
        warmup_steps=args.warmup_steps,
        validation_batches=args.validation_batches,
        jit_compile=args.jit_compile,
        seed=args.seed,
        data_dir=args.data_dir,
    )
    if rows is None:
        print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no trials left; "
              "the chief writes the results")
        return
    print()
    print("\n".join(tuning.format_results(rows)))
    print()
    for name in (tuning.RESULTS_FILE, tuning.PLOT_FILE, tuning.BEST_MODEL_FILE):
        print(f"written: {os.path.join(args.output, name)}")


def _export(args):
    import keras

    from memzoo import export
    from memzoo import training

    model = training.load_language_model(args.model or args.preset, keras.Model)
    # A limit left out takes export_saved_model's default.
    limits = {
        name: getattr(args, name)
        for name in ("max_batch_size", "max_input_length", "max_new_tokens")
        if getattr(args, name) is not None
    }
    path = export.export_saved_model(model, args.output, version=args.version,
                                     **limits)
    print(f"exported: {path}")


# How `memzoo eval` prints each score: label and format.
_SCORES = {
    "loss": ("loss", ".4f"),
    "bits_per_character": ("bits per character", ".3f"),
    "perplexity": ("perplexity", ".2f"),
    "accuracy": ("accuracy", ".4f"),
    "mae": ("MAE", ".4f"),
    "rmse": ("RMSE", ".4f"),
    "token_accuracy": ("token accuracy", ".4f"),
    "bleu": ("BLEU", ".2f"),
}
_BASELINES = {
    "baseline_unigram_bits_per_character": (
        "unigram baseline (byte frequencies of the train split): {:.3f} bits "
        "per character"),
    "baseline_chance_accuracy": "chance (answer symbols guessed): accuracy {:.4f}",
    "baseline_majority_class_accuracy": (
        "majority-class baseline (the train split's most frequent class): "
        "accuracy {:.4f}"),
    "baseline_naive_mae": "naive baseline (the last value): MAE {:.4f}",
    "baseline_seasonal_naive_mae": (
        "seasonal-naive baseline (the value a season before): MAE {:.4f}"),
    "baseline_copy_source_bleu": "copy baseline (the source as it is): BLEU {:.2f}",
}


def _evaluate(args):
    import keras

    from memzoo import evaluation
    from memzoo import training
    from memzoo.models.presets import get_preset

    model = training.load_language_model(args.model, keras.Model)
    if os.path.isfile(args.model):
        settings = evaluation.run_settings(args.model)
    else:
        settings = {key: get_preset(args.model).get(key)
                    for key in ("data", "sequence_length")}
    scores = evaluation.evaluate(
        model,
        _first(args.data, settings.get("data")),
        split=args.split,
        batch_size=_first(args.batch_size, settings.get("batch_size"), 32),
        sequence_length=_first(args.sequence_length,
                               settings.get("sequence_length")),
        max_batches=args.max_batches,
        data_dir=args.data_dir,
        baselines=args.baseline,
        beam_size=args.beam_size,
    )
    print("  ".join(f"{label} {scores[name]:{digits}}"
                    for name, (label, digits) in _SCORES.items() if name in scores))
    for name, line in _BASELINES.items():
        if name in scores:
            print(line.format(scores[name]))


def _first(*values):
    """The first of `values` that is not `None`."""
    return next((value for value in values if value is not None), None)


def _generate(args):
    from memzoo import generation
    from memzoo import training

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt:
        raise ValueError(
            "Invalid value for argument `prompt`. Expected some text. "
            "Received: an empty prompt"
        )
    sampler = {
        "greedy": lambda: generation.GreedySampler(),
        "random": lambda: generation.RandomSampler(args.temperature),
        "top_k": lambda: generation.TopKSampler(args.top_k, args.temperature),
        "top_p": lambda: generation.TopPSampler(args.top_p, args.temperature),
    }[args.sampler]()
    model = training.load_language_model(args.model)
    if args.stream:
        sys.stdout.write(prompt)
        for piece in model.stream(prompt, args.max_new_tokens, sampler, args.seed):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return
    text = model.generate(prompt, args.max_new_tokens, sampler, args.seed,
                          jit_compile=args.jit_compile)
    print(text)


def _list_presets(args):
    import memzoo

    rows = [("preset", "model", "parameters", "weights", "description")]
    for name in memzoo.list_presets():
        preset = memzoo.get_preset(name)
        model = memzoo.models.presets.preset_class(name).from_preset(name)
        # Token ids [batch, time], or a one-feature series for a regressor.
        model.build((None, None, 1) if isinstance(model, memzoo.SequenceRegressor)
                    else (None, None))
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


if __name__ == "__main__":
    sys.exit(main())
