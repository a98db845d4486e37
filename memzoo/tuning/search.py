"""`tune()`: runs a keras-tuner tuner over `MemoryHyperModel`, writes the results."""

import inspect
import os
import time

import keras
import keras_tuner

from memzoo import data
from memzoo import training
from memzoo.tuning.hypermodel import MemoryHyperModel
from memzoo.tuning.results import COLUMNS
from memzoo.tuning.results import OBJECTIVE
from memzoo.tuning.results import OPTIONAL_HYPERPARAMETERS
from memzoo.tuning.results import completed_trials
from memzoo.tuning.results import format_value
from memzoo.tuning.results import plot_results
from memzoo.tuning.results import write_csv
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


def tune(output_dir, tuner="random", max_trials=None, verbose=0,
         **hypermodel_arguments):
    """Searches memory sizes with a keras-tuner tuner; writes `output_dir`.

    Prints a line per finished trial.

    Args:
        output_dir: str. The search's folder (see `memzoo.tuning`).
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
    training.claim_output_dir(output_dir, config)
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

    rows = completed_trials(search.oracle)
    if not rows:
        raise RuntimeError(
            f"No trial of the search in {output_dir} finished: see "
            f"{os.path.join(output_dir, PROJECT_NAME)}/trial_*/trial.json."
        )
    write_csv(rows, os.path.join(output_dir, RESULTS_FILE))
    plot_results(rows, os.path.join(output_dir, PLOT_FILE))
    best_model = search.get_best_models(1)[0]
    training.save_model_atomically(
        best_model, os.path.join(output_dir, BEST_MODEL_FILE)
    )
    return rows


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
            f"{heading}={format_value(name, values[name])}"
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
