"""Searching memory sizes with keras-tuner: what `memzoo tune` runs.

`MemoryHyperModel` is a `keras_tuner.HyperModel` that builds a zoo language
model from a preset with its working memory W, long-short-term memory M and
segment length S (and optionally width, depth and learning rate) drawn from
the `hp` object, and trains it as `memzoo train` does: the same data
pipeline, optimizer, schedule and callbacks (`memzoo.training`). `tune()`
runs one of keras-tuner's tuners over it and writes into an output folder:

    run.json              the search's configuration (a folder holds one)
    search/               keras-tuner's project: its oracle and trials
    logs/                 TensorBoard logs, one folder per trial, with hparams
    tuning_results.csv    one row per finished trial, best first
    tuning.png            val_loss against W, one line per M
    best_model.keras      the best trial's model, at its best epoch

keras-tuner keeps the search's state in `search/` (`overwrite=False`), so a
search started again with the same configuration continues: finished trials
are not repeated, an interrupted one runs again. For a distributed search,
start the same command in a chief and in workers with keras-tuner's own
variables `KERASTUNER_TUNER_ID` (`chief`, `tuner0`, `tuner1`, ...),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`, on a shared folder: the
workers run the trials, the chief's oracle hands them out, and the chief
writes the results once they are all done.
"""

import csv
import inspect
import math
import os
import time

import keras
import keras_tuner

from memzoo import data
from memzoo import training
from memzoo.validation import check_integer

TUNERS = {
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
    "grid": keras_tuner.GridSearch,
}
PROJECT_NAME = "search"
RESULTS_FILE = "tuning_results.csv"
PLOT_FILE = "tuning.png"
BEST_MODEL_FILE = "best_model.keras"
OBJECTIVE = "val_loss"
# Result columns: (CSV name, table heading).
COLUMNS = (
    ("trial", "trial"),
    ("working_memory", "W"),
    ("long_short_term_memory", "M"),
    ("segment_length", "S"),
    ("parameters", "parameters"),
    ("val_loss", "val_loss"),
    ("bits_per_character", "bits per character"),
    ("tokens_per_second", "tokens/s"),
)
# Further settings a search can draw: (name, table heading).
OPTIONAL_HYPERPARAMETERS = (
    ("hidden_dim", "width"),
    ("num_layers", "depth"),
    ("learning_rate", "learning rate"),
)


class MemoryHyperModel(keras_tuner.HyperModel):
    """A keras-tuner `HyperModel` over the memory sizes of a zoo language model.

    `build(hp)` makes the preset's model with `working_memory` drawn by
    `hp.Int(..., sampling="log", step=2)` (W in {low, 2 low, 4 low, ...}),
    `long_short_term_memory` by `hp.Choice`, and, when given choices,
    `segment_length` (else S = W), `hidden_dim`, `num_layers` and a
    log-uniform `learning_rate`; it compiles the model as `memzoo train`
    does. `fit(hp, model, ...)` trains it for `steps` steps on
    `data_source` through `memzoo.training`'s pipeline and callbacks (plus
    keras-tuner's), in `epochs` Keras epochs, each followed by validation,
    and returns the best epoch's `val_loss` and `val_bits_per_character`
    with the training `tokens_per_second` and the model's `parameters`.
    Every trial starts from the same seed, so trials differ by their
    hyperparameters only.

    Args:
        preset: str. A language-model preset with memory sizes
            (`biglm_tiny`, ...).
        data_source: a source for `memzoo.data.language_model_dataset`, or
            a memory task such as `"associative_recall:num_pairs=1,distance=32"`
            (see `memzoo.training.memory_task`), whose loss and metrics count
            the answer only; `None` is the default corpus.
        working_memory_range: `(low, high)` ints. W's search range.
        long_short_term_memory_choices: ints >= 0. M's choices.
        segment_length_choices: ints or `None`. S's choices; `None`: S = W.
        hidden_dim_choices: ints or `None`. Widths to draw from, if any.
        num_layers_choices: ints or `None`. Depths to draw from, if any.
        learning_rate: float. The peak learning rate, unless drawn:
        learning_rate_range: `(low, high)` floats or `None`.
        overrides: dict or `None`. Fixed config values, e.g.
            `{"lstm_layers": 0}`.
        steps: int. Optimizer steps per trial.
        epochs: int. Keras epochs the steps are split into (validation
            after each; Hyperband's unit of budget).
        batch_size: int. Sequences per step.
        sequence_length: int. Tokens per sequence (a memory task sets its
            own).
        warmup_steps: int. Steps of linear learning-rate warm-up.
        validation_batches: int. Held-out batches per validation.
        jit_compile: bool. Compile the training step with XLA.
        seed: int. Seeds each trial's weights and the data order.
        data_dir: str or `None`. The tensorflow-datasets folder.

    Example:

    ```python
    import keras_tuner
    import memzoo.tuning

    hypermodel = memzoo.tuning.MemoryHyperModel(
        "biglm_tiny", working_memory_range=(8, 32),
        long_short_term_memory_choices=[0, 4],
        overrides={"embedding_dim": 8, "hidden_dim": 8, "num_heads": 2})
    model = hypermodel.build(keras_tuner.HyperParameters())
    model.working_memory, model.long_short_term_memory   # (8, 0)
    ```
    """

    def __init__(
        self,
        preset="biglm_tiny",
        data_source=None,
        working_memory_range=(16, 256),
        long_short_term_memory_choices=(0, 8, 32),
        segment_length_choices=None,
        hidden_dim_choices=None,
        num_layers_choices=None,
        learning_rate=3e-3,
        learning_rate_range=None,
        overrides=None,
        steps=200,
        epochs=4,
        batch_size=32,
        sequence_length=128,
        warmup_steps=20,
        validation_batches=20,
        jit_compile=True,
        seed=0,
        data_dir=None,
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        self.preset = preset
        self.data_source = data_source
        self.working_memory_range = _check_range(
            "working_memory_range", working_memory_range, minimum=1
        )
        self.long_short_term_memory_choices = _check_choices(
            "long_short_term_memory_choices", long_short_term_memory_choices,
            minimum=0,
        )
        self.segment_length_choices = _check_choices(
            "segment_length_choices", segment_length_choices, minimum=1,
            optional=True,
        )
        self.hidden_dim_choices = _check_choices(
            "hidden_dim_choices", hidden_dim_choices, minimum=1, optional=True
        )
        self.num_layers_choices = _check_choices(
            "num_layers_choices", num_layers_choices, minimum=0, optional=True
        )
        self.learning_rate = _check_learning_rate("learning_rate", learning_rate)
        self.learning_rate_range = learning_rate_range and tuple(
            _check_learning_rate("learning_rate_range", value)
            for value in _check_range(
                "learning_rate_range", learning_rate_range, minimum=0, kind=float
            )
        )
        self.overrides = dict(overrides or {})
        self.steps = check_integer("steps", steps)
        self.epochs = check_integer("epochs", epochs)
        if self.epochs > self.steps:
            raise ValueError(
                "Invalid value for argument `epochs`. Expected at most "
                f"steps={self.steps}, one step per epoch at least. Received: "
                f"epochs={epochs!r}"
            )
        self.batch_size = check_integer("batch_size", batch_size)
        self.sequence_length = check_integer(
            "sequence_length", sequence_length, minimum=2
        )
        self.warmup_steps = check_integer("warmup_steps", warmup_steps, minimum=0)
        self.validation_batches = check_integer(
            "validation_batches", validation_batches
        )
        self.jit_compile = bool(jit_compile)
        self.seed = check_integer("seed", seed, minimum=0)
        self.data_dir = data_dir
        # Refuses a task's bad arguments now rather than in every trial.
        self._task = training.memory_task(data_source)
        self._datasets = None

    def build(self, hp):
        """The preset's model with the sizes drawn from `hp`, compiled."""
        values = {
            # Grid search hands out log-spaced values as floats.
            "working_memory": round(hp.Int(
                "working_memory", *self.working_memory_range, step=2,
                sampling="log",
            )),
            "long_short_term_memory": hp.Choice(
                "long_short_term_memory", self.long_short_term_memory_choices
            ),
        }
        for name in ("segment_length", "hidden_dim", "num_layers"):
            choices = getattr(self, f"{name}_choices")
            if choices is not None:
                values[name] = hp.Choice(name, choices)
        learning_rate = self.learning_rate
        if self.learning_rate_range is not None:
            learning_rate = hp.Float(
                "learning_rate", *self.learning_rate_range, sampling="log"
            )
        keras.utils.set_random_seed(self.seed)
        model = training.build_model(self.preset, {**self.overrides, **values})
        training.compile_for_training(
            model, learning_rate, self.steps, self.warmup_steps,
            self.jit_compile, answer_only=self._task is not None,
        )
        model.build((None, None))
        # So the checkpoints keras-tuner writes and loads carry its state.
        model.optimizer.build(model.trainable_variables)
        return model

    def datasets(self):
        """`(train_stream, validation_data)` of `data_source`, made once."""
        if self._datasets is None:
            data_source = self.data_source
            if data_source is None:
                data_source, _ = data.default_corpus_files()
            self._datasets = training.training_datasets(
                data_source, self.sequence_length, self.batch_size, self.seed,
                self.validation_batches, self.data_dir,
            )
        return self._datasets

    def fit(self, hp, model, callbacks=None, epochs=None, initial_epoch=0,
            verbose=0):
        """Trains `model` as `memzoo train` does; returns the trial's metrics.

        `callbacks` are keras-tuner's (checkpointing, TensorBoard);
        `epochs` and `initial_epoch` are set by Hyperband.
        """
        train_stream, validation_data = self.datasets()
        timer, standard_callbacks = training.fit_callbacks()
        steps_per_epoch = self.steps // self.epochs
        history = model.fit(
            # A model Hyperband trains further goes on where it stopped.
            train_stream.skip(initial_epoch * steps_per_epoch),
            epochs=epochs or self.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            callbacks=standard_callbacks + list(callbacks or []),
            verbose=verbose,
            shuffle=False,  # The pipeline shuffles, seeded.
        )
        losses = history.history[OBJECTIVE]
        best = min(range(len(losses)), key=losses.__getitem__)
        return {
            OBJECTIVE: losses[best],
            "val_bits_per_character": history.history["val_bits_per_character"][best],
            "tokens_per_second": timer.tokens_per_second(
                steps_per_epoch * training.tokens_per_batch(train_stream)
            ) or 0.0,
            "parameters": model.count_params(),
        }


def tune(output_dir, tuner="random", max_trials=None, verbose=0,
         **hypermodel_arguments):
    """Searches memory sizes with a keras-tuner tuner; writes `output_dir`.

    Prints a line per finished trial.

    Args:
        output_dir: str. The search's folder (see the module docstring).
        tuner: str. `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`.
        max_trials: int or `None`. Trials to run: default 10, and for
            `"grid"` every combination; Hyperband's brackets set its own.
        verbose: Keras `fit` verbosity inside the trials.
        **hypermodel_arguments: `MemoryHyperModel`'s arguments: the preset,
            the data, the search ranges and how each trial trains.

    Returns:
        The finished trials as dicts of the `COLUMNS` (and the optional
        hyperparameters searched), best first; `None` in a worker of a
        distributed search, whose chief writes the results.

    Example:

    ```python
    import tempfile
    import memzoo.tuning

    with tempfile.TemporaryDirectory() as folder:
        rows = memzoo.tuning.tune(
            folder, data_source="copy:length=2,distance=4", max_trials=1,
            steps=1, epochs=1, batch_size=2, validation_batches=1,
            working_memory_range=(4, 4), long_short_term_memory_choices=[0],
            overrides={"embedding_dim": 8, "hidden_dim": 8, "num_heads": 2,
                       "num_layers": 1, "lstm_layers": 0}, jit_compile=False)
    rows[0]["working_memory"], rows[0]["val_loss"]   # 4, about ln(259)
    ```
    """
    if tuner not in TUNERS:
        raise ValueError(
            f"Invalid value for argument `tuner`. Expected one of "
            f"{sorted(TUNERS)}. Received: tuner={tuner!r}"
        )
    if max_trials is not None:
        max_trials = check_integer("max_trials", max_trials)
        if tuner == "hyperband":
            raise ValueError(
                "Invalid value for argument `max_trials`: Hyperband's brackets "
                "set the number of trials (from `epochs`). Expected None. "
                f"Received: max_trials={max_trials!r}"
            )
    elif tuner in ("random", "bayesian"):
        max_trials = 10
    hypermodel = MemoryHyperModel(**hypermodel_arguments)
    # The data, a model and the tuner are checked before anything is
    # written: a typo leaves no folder behind.
    hypermodel.datasets()
    hypermodel.build(keras_tuner.HyperParameters())
    search = _build_tuner(tuner, hypermodel, max_trials, output_dir)
    # `max_trials` may grow when a search is continued; the rest may not.
    settings = inspect.signature(MemoryHyperModel).bind(**hypermodel_arguments)
    settings.apply_defaults()
    config = dict(settings.arguments, tuner=tuner, data_dir=None)
    if config["data_source"] is None:
        config["data_source"] = data.default_corpus_files()[0]
    training._claim_output_dir(output_dir, config)
    try:
        search.search(
            verbose=verbose,
            callbacks=[keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"))],
        )
    except RuntimeError as error:
        # keras-tuner stops after consecutive failed trials with their
        # traceback in the message: keep its first line and the error.
        lines = [line for line in str(error).splitlines() if line.strip()]
        if len(lines) < 2:
            raise
        raise RuntimeError(f"{lines[0]} The last one: {lines[-1]}") from error
    if _is_worker():
        return None

    rows = _results(search.oracle)
    if not rows:
        raise RuntimeError(
            f"No trial of the search in {output_dir} finished: see "
            f"{os.path.join(output_dir, PROJECT_NAME)}/trial_*/trial.json."
        )
    _write_csv(rows, os.path.join(output_dir, RESULTS_FILE))
    _plot(rows, os.path.join(output_dir, PLOT_FILE))
    best_model = search.get_best_models(1)[0]
    training.save_model_atomically(
        best_model, os.path.join(output_dir, BEST_MODEL_FILE)
    )
    return rows


def format_results(rows):
    """The results of `tune()` as the lines of a table, for printing.

    Example:

    ```python
    row = {"trial": "0", "working_memory": 32, "long_short_term_memory": 8,
           "segment_length": 32, "parameters": 266403, "val_loss": 1.87,
           "bits_per_character": 2.70, "tokens_per_second": 15766.0}
    print("\\n".join(memzoo.tuning.format_results([row])))
    ```
    """
    columns = list(COLUMNS) + [
        (name, heading) for name, heading in OPTIONAL_HYPERPARAMETERS
        if any(name in row for row in rows)
    ]
    table = [[heading for _, heading in columns]]
    for row in rows:
        table.append([_format_value(name, row.get(name)) for name, _ in columns])
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths))
        ).rstrip()
        for line in table
    ]


class _ReportsTrials:
    """Prints a line per finished trial (keras-tuner's own display is off)."""

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started = time.time()

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        # The oracle's record: in a worker, `trial` is a copy without metrics.
        record = self.oracle.get_trial(trial.trial_id)
        values = dict(trial.hyperparameters.values)
        values["working_memory"] = round(values["working_memory"])
        values.setdefault("segment_length", values["working_memory"])
        settings = " ".join(
            f"{heading}={_format_value(name, values[name])}"
            for name, heading in COLUMNS[1:4] + OPTIONAL_HYPERPARAMETERS
            if name in values
        )
        seconds = time.time() - self._trial_started
        if record.status == keras_tuner.engine.trial.TrialStatus.COMPLETED:
            metrics = {
                name: record.metrics.get_last_value(name)
                for name in (OBJECTIVE, "val_bits_per_character", "tokens_per_second")
            }
            outcome = (
                f"val_loss {metrics[OBJECTIVE]:.4f}, "
                f"{metrics['val_bits_per_character']:.3f} bits per character, "
                f"{metrics['tokens_per_second']:,.0f} tokens/s"
            )
        else:
            message = (record.message or trial.message or "").strip().splitlines()
            outcome = f"{record.status.lower()}: {message[-1] if message else ''}"
        print(f"trial {trial.trial_id} ({self.tuner_id}): {settings}: {outcome} "
              f"[{seconds:.0f} s]", flush=True)


def _build_tuner(name, hypermodel, max_trials, output_dir):
    tuner_class = type(TUNERS[name].__name__, (_ReportsTrials, TUNERS[name]), {})
    arguments = {"max_epochs": hypermodel.epochs} if name == "hyperband" else {
        "max_trials": max_trials
    }
    return tuner_class(
        hypermodel=hypermodel,
        objective=keras_tuner.Objective(OBJECTIVE, direction="min"),
        # keras-tuner takes a seed of 0 for none and draws one.
        seed=hypermodel.seed + 1,
        directory=output_dir,
        project_name=PROJECT_NAME,
        overwrite=False,
        **arguments,
    )


def _is_worker():
    """Whether this process is a worker of a distributed keras-tuner search."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get(
        "KERASTUNER_TUNER_ID", ""
    )


def _results(oracle):
    """The finished trials' rows, best (lowest val_loss) first."""
    rows = []
    for trial in oracle.trials.values():
        if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
            continue
        values = trial.hyperparameters.values
        working_memory = round(values["working_memory"])
        row = {
            "trial": trial.trial_id,
            "working_memory": working_memory,
            "long_short_term_memory": values["long_short_term_memory"],
            "segment_length": values.get("segment_length", working_memory),
            "parameters": int(trial.metrics.get_last_value("parameters")),
            "val_loss": trial.metrics.get_last_value(OBJECTIVE),
            "bits_per_character": trial.metrics.get_last_value("val_bits_per_character"),
            "tokens_per_second": trial.metrics.get_last_value("tokens_per_second"),
        }
        for name, _ in OPTIONAL_HYPERPARAMETERS:
            if name in values:
                row[name] = values[name]
        rows.append(row)
    return sorted(rows, key=lambda row: (row["val_loss"], row["trial"]))


def _format_value(name, value):
    if value is None:
        return ""
    if name in ("val_loss", "bits_per_character"):
        return f"{value:.4f}" if name == "val_loss" else f"{value:.3f}"
    if name in ("parameters", "tokens_per_second"):
        return f"{value:,.0f}"
    if name == "learning_rate":
        return f"{value:.2e}"
    return str(value)


def _write_csv(rows, path):
    names = list(rows[0])
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


def _plot(rows, path):
    """val_loss against W, one line per M, into a PNG (matplotlib's Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for memory in sorted({row["long_short_term_memory"] for row in rows}):
        # Trials that differ in other settings: the best at each W.
        best = {}
        for row in rows:
            if row["long_short_term_memory"] == memory:
                width = row["working_memory"]
                best[width] = min(best.get(width, math.inf), row["val_loss"])
        widths = sorted(best)
        axes.plot(widths, [best[w] for w in widths], marker="o", label=f"M = {memory}")
    axes.set_xscale("log", base=2)
    widths = sorted({row["working_memory"] for row in rows})
    axes.set_xticks(widths, [str(width) for width in widths])
    axes.minorticks_off()
    axes.set_xlabel("working memory W (tokens)")
    axes.set_ylabel("val_loss (nats per token)")
    axes.set_title("Search over memory sizes")
    axes.legend(title="long-short-term memory")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(f"{path}.tmp.png")
    os.replace(f"{path}.tmp.png", path)


def _check_range(name, value, minimum, kind=int):
    """Returns `(low, high)` if it is a non-empty range of `kind` >= `minimum`."""
    numbers = (int,) if kind is int else (int, float)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, numbers) for v in value)
    ):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a range (low, high) "
            f"of {kind.__name__}s. Received: {name}={value!r}"
        )
    low, high = value
    if low > high:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a range (low, high) "
            f"with low <= high. Received: {name}={tuple(value)!r}, an empty range"
        )
    if low < minimum:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected values >= {minimum}. "
            f"Received: {name}={tuple(value)!r}"
        )
    return kind(low), kind(high)


def _check_choices(name, values, minimum, optional=False):
    """Returns the distinct choices, sorted, if they are ints >= `minimum`."""
    if values is None and optional:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a list of integers. "
            f"Received: {name}={values!r}"
        )
    values = list(values)
    if not values:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected at least one "
            f"choice. Received: {name}={values!r}"
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected integers >= "
                f"{minimum}. Received: {name}={values!r}"
            )
    return sorted(set(values))


def _check_learning_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected strictly positive "
            f"numbers. Received: {name}={value!r}"
        )
    return float(value)
