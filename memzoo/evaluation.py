"""Held-out scores of every zoo model and the baselines each must beat:
what `memzoo eval` runs.

`evaluate()` reads a model's held-out data the way `memzoo train` fed it and
returns its scores in the model's own terms: bits per character for a
language model (or answer accuracy on a memory task), accuracy for a
classifier, mean absolute error in the series' units for a regressor,
sacrebleu BLEU for a translator. With `baselines=True` it adds what a model
without skill scores on the same examples: unigram byte frequencies, chance
on a memory task, the majority class, the naive and seasonal-naive forecasts,
or the source copied as its own translation.

`long_range()` (`memzoo.long_range`) scores a language model's recall at a
distance: what `memzoo eval --long-range` runs.
"""

import os

from memzoo.long_range import long_range  # noqa: F401

from memzoo.models.presets import METADATA_FILE
from memzoo.models.presets import is_preset_dir
from memzoo.training.run_folder import RUN_FILE
from memzoo.training.run_folder import read_json
from memzoo.validation import check_integer

# Far from the seeds of training runs (a run's examples use seed and seed+1).
EVALUATION_SEED = 1_000_003


def evaluate(
    model,
    data_source=None,
    split="test",
    batch_size=32,
    sequence_length=None,
    max_batches=None,
    data_dir=None,
    baselines=False,
    beam_size=1,
    seed=EVALUATION_SEED,
):
    """Scores `model` on a held-out split of `data_source`.

    Args:
        model: a zoo model (a language model, `NeuralTuringMachine`,
            `TextClassifier`, `SequenceRegressor` or `Seq2SeqTranslator`).
        data_source: what the model reads: a corpus or memory task (as for
            `memzoo.training.train`), a labelled tfds name, a series name
            of `memzoo.data.series`, or a translation tfds name. `None` is
            the default corpus for a language model; the others need one.
        split: str. A split of the data (a series has `"train"` and the
            held-out tail, `"test"`).
        batch_size: int. Examples per batch.
        sequence_length: int or `None`. Tokens per window (language model),
            most tokens of a text (classifier: 512) or of a sentence
            (translator: 128), the window of a regressor (required: the one
            it was trained with).
        max_batches: int or `None`. Score at most this many batches
            (a memory task draws 50 unless told).
        data_dir: str or `None`. The tensorflow-datasets folder.
        baselines: bool. Also score the baselines (keys `baseline_*`).
        beam_size: int. The translator's beam (1 is greedy).
        seed: int. Draws a memory task's examples (by default not those of
            a run's training or validation, which use its seed and seed+1).

    Returns:
        A dict of floats: `loss` and, by model, `bits_per_character` and
        `perplexity`; `accuracy`; `mae` and `rmse` (series units);
        `bleu` and `token_accuracy`; plus the `baseline_*` scores.

    Example:

    ```python
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    memzoo.evaluation.evaluate(model, max_batches=2, baselines=True)
    # {'loss': 5.55..., 'bits_per_character': 8.0..., 'perplexity': 258...,
    #  'baseline_unigram_bits_per_character': 4.7...}
    ```
    """
    batch_size = check_integer("batch_size", batch_size)
    if max_batches is not None:
        max_batches = check_integer("max_batches", max_batches)
    if sequence_length is None:
        sequence_length = model.default_sequence_length
    if sequence_length is None:
        raise ValueError(
            "Invalid value for argument `sequence_length`. Expected the "
            f"window the {type(model).__name__} was trained with. Received: "
            "sequence_length=None"
        )
    sequence_length = check_integer("sequence_length", sequence_length)
    if not callable(getattr(model, "evaluate_held_out", None)):
        raise ValueError(
            "Invalid value for argument `model`. Expected a memzoo zoo model. "
            f"Received: a {type(model).__name__}"
        )
    return model.evaluate_held_out(
        data_source, split=split, batch_size=batch_size,
        sequence_length=sequence_length, max_batches=max_batches,
        data_dir=data_dir, baselines=baselines, beam_size=beam_size, seed=seed,
    )


def run_settings(model_path):
    """The `data`, `sequence_length` and `batch_size` of the `memzoo train`
    run that wrote `model_path` (a `.keras` file in its folder, or a preset
    directory that keeps the run's settings in its metadata), or `{}`."""
    config = {}
    if is_preset_dir(model_path):
        metadata = read_json(os.path.join(model_path, METADATA_FILE))
        config = metadata.get("metadata", {}).get("run", {})
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), RUN_FILE)
    if not config and os.path.isfile(path):
        config = read_json(path)
    return {key: config[key] for key in ("data", "sequence_length", "batch_size")
            if key in config}
