"""What each `memzoo` subcommand does, given its parsed arguments.

A handler imports the modules it needs (training, evaluation, keras-tuner)
when it runs, so that `memzoo --help` and a usage error do not load them.
"""

import dataclasses
import os
import sys


def train(args):
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
        stateful=args.stateful,
        stream_length=args.stream_length,
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
    xla = metrics["jit_compile"]
    print(f"{', '.join(scores)}; {metrics['steps']} steps, "
          f"{tokens_per_second:,.0f} tokens/s, "
          f"XLA {'on' if xla['jit_compile'] else 'off'} ({xla['how']})"
          + _stateful_note(metrics))
    output = metrics["output_dir"]
    print(f"model:   {os.path.join(output, training.MODEL_FILE)}")
    print(f"preset:  {os.path.join(output, training.PRESET_DIR)}")
    print(f"metrics: {os.path.join(output, training.METRICS_FILE)}")
    print(f"logs:    {os.path.join(output, 'logs')} (tensorboard --logdir)")


def _stateful_note(metrics):
    """How the run read its corpus, for the line `memzoo train` prints."""
    if not metrics["stateful"]:
        return ""
    length = metrics["config"]["stream_length"]
    return (f", stateful (reset every {length:,} tokens)" if length
            else ", stateful (whole documents)")


def tune(args):
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
        stateful=args.stateful,
        stream_length=args.stream_length,
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


def export(args):
    from memzoo import training
    from memzoo.export import export_saved_model

    model = training.load_model(args.model or args.preset)
    # A limit left out takes export_saved_model's default.
    limits = {
        name: getattr(args, name)
        for name in ("max_batch_size", "max_input_length", "max_new_tokens")
        if getattr(args, name) is not None
    }
    path = export_saved_model(model, args.output, version=args.version, **limits)
    print(f"exported: {path}")


# How `memzoo eval` prints each score: label and format.
_SCORES = {
    "loss": ("loss", ".4f"),
    "bits_per_character": ("bits per character", ".3f"),
    "stream_bits_per_character": ("one stream (state carried)", ".3f"),
    "perplexity": ("perplexity", ".2f"),
    "accuracy": ("accuracy", ".4f"),
    "mae": ("MAE", ".4f"),
    "rmse": ("RMSE", ".4f"),
    "token_accuracy": ("token accuracy", ".4f"),
    "bleu": ("BLEU", ".2f"),
    "chrf": ("chrF", ".2f"),
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
    "baseline_copy_source_chrf": "copy baseline (the source as it is): chrF {:.2f}",
}


def evaluate(args):
    from memzoo import evaluation
    from memzoo import training

    if args.long_range:
        return _evaluate_long_range(args)
    model = training.load_model(args.model)
    settings = _run_settings(args.model)
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


def _evaluate_long_range(args):
    from memzoo import long_range
    from memzoo import training

    results = {}
    for name in [args.model, *args.compare]:
        model = training.load_model(name, generates=True)
        result = long_range.long_range(
            model, _first(args.data, _run_settings(name).get("data")),
            split=args.split, distances=args.distances, trials=args.trials,
            depths=args.depths, gaps=args.gaps, seed=args.seed, data_dir=args.data_dir,
        )
        results[name] = dataclasses.asdict(result)
        print(f"{name}:")
        print("\n".join("  " + line for line in result.summary()))
        if args.output:
            folder = (args.output if name == args.model else
                      os.path.join(args.output, _safe_name(name)))
            os.makedirs(folder, exist_ok=True)
            result.plot(os.path.join(folder, "long_range.png"))
    if args.output:
        training.write_json_atomically(
            os.path.join(args.output, "long_range.json"), results
        )


def _safe_name(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _run_settings(model):
    """The `data`, `sequence_length` and `batch_size` the model `memzoo
    eval` or `probe` was given was trained with: its run's (a run's files, a
    preset directory, a shipped preset), else its registered preset's."""
    from memzoo import evaluation
    from memzoo.models.presets import get_preset

    if os.path.exists(model):
        return evaluation.run_settings(model)
    preset = get_preset(model)
    if preset["weights"] is not None:
        return evaluation.run_settings(preset["weights"])
    return {key: preset[key] for key in ("data", "sequence_length")}


def _first(*values):
    """The first of `values` that is not `None`."""
    return next((value for value in values if value is not None), None)


def generate(args):
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
    model = training.load_model(args.model, generates=True)
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


def probe(args):
    from memzoo import probe as memory_probe
    from memzoo import training

    model = training.load_model(args.model, generates=True)
    data = _first(args.data, _run_settings(args.model).get("data"))
    result = memory_probe.probe(
        model, data, split=args.split, max_tokens=args.max_tokens,
        reset_every=args.reset_every, data_dir=args.data_dir,
    )
    os.makedirs(args.output, exist_ok=True)
    result.plot(os.path.join(args.output, "probe.png"))
    training.write_json_atomically(os.path.join(args.output, "probe.json"),
                                   dataclasses.asdict(result))
    print("\n".join(result.summary()))


def list_presets(args):
    import memzoo
    from memzoo import shipping

    rows = [("preset", "model", "parameters", "weights", "held-out",
             "baseline", "description")]
    for name in memzoo.list_presets():
        preset = memzoo.get_preset(name)
        metadata = shipping.shipped_metadata(name)
        if metadata is None:
            model = memzoo.models.presets.preset_class(name).from_preset(name)
            model.build_from_signature()
            parameters, weights = model.count_params(), "none (config only)"
            scores = ("-", "-")
        else:
            # What the weights were scored, without loading them.
            parameters, weights = metadata["parameter_count"], "shipped"
            scores = shipping.summary(metadata)
        rows.append((name, preset["class_name"], f"{parameters:,}", weights,
                     *scores, preset["description"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells + [row[-1]]))
