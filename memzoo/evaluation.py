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
"""

import collections
import json
import math
import os

import numpy as np

from memzoo import data
from memzoo import training
from memzoo.metrics import corpus_bleu
from memzoo.metrics import translation_bleu
from memzoo.models import Seq2SeqTranslator
from memzoo.models import SequenceRegressor
from memzoo.models import TextClassifier
from memzoo.validation import check_integer

# Far from the seeds of training runs (a run's examples use seed and seed+1).
EVALUATION_SEED = 1_000_003
# What a model scores when none is given: a language model's is 128 tokens.
DEFAULT_SEQUENCE_LENGTH = {
    TextClassifier: 512,
    Seq2SeqTranslator: 128,
}


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
    if isinstance(model, training.TOKEN_SEQUENCE_MODELS):
        return _evaluate_token_model(
            model, data_source, split, batch_size, sequence_length or 128,
            max_batches, data_dir, baselines, seed,
        )
    if data_source is None:
        raise ValueError(
            "Invalid value for argument `data`. A "
            f"{type(model).__name__} needs the data it is scored on, e.g. "
            "the `data` of its preset (`memzoo list`). Received: data=None"
        )
    if isinstance(model, SequenceRegressor):
        if sequence_length is None:
            raise ValueError(
                "Invalid value for argument `sequence_length`. Expected the "
                "window the SequenceRegressor was trained with. Received: "
                "sequence_length=None"
            )
        return _evaluate_regressor(
            model, data_source, split, batch_size,
            check_integer("sequence_length", sequence_length), max_batches,
            baselines,
        )
    sequence_length = check_integer(
        "sequence_length",
        sequence_length or DEFAULT_SEQUENCE_LENGTH.get(type(model), 128),
    )
    if isinstance(model, TextClassifier):
        return _evaluate_classifier(
            model, data_source, split, batch_size, sequence_length, max_batches,
            data_dir, baselines,
        )
    if isinstance(model, Seq2SeqTranslator):
        return _evaluate_translator(
            model, data_source, split, batch_size, sequence_length, max_batches,
            data_dir, baselines, beam_size,
        )
    raise ValueError(
        "Invalid value for argument `model`. Expected a memzoo zoo model. "
        f"Received: a {type(model).__name__}"
    )


def run_settings(model_path):
    """The `data`, `sequence_length` and `batch_size` of the `memzoo train`
    run whose folder holds `model_path`, or `{}` for a file of no run."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)),
                        training.RUN_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return {key: config[key] for key in ("data", "sequence_length", "batch_size")
            if key in config}


def unigram_bits_per_character(data_source=None, split="test",
                               sequence_length=128, data_dir=None):
    """The baseline a language model must beat: bits per character of token
    frequencies counted on the `train` split, scored on `split`.

    Counts are add-one smoothed, so an unseen token costs bits, not infinity.
    """
    if data_source is None:
        data_source, _ = data.default_corpus_files()

    def counts(which):
        dataset = data.language_model_dataset(
            data_source, sequence_length, 1, split=which, shuffle=False,
            data_dir=data_dir,
        )
        total = np.zeros(data.ByteTokenizer.vocabulary_size, np.int64)
        for _, targets in dataset.rebatch(1024):
            total += np.bincount(targets.numpy().ravel(), minlength=total.size)
        return total

    train_counts = counts("train") + 1
    probabilities = train_counts / train_counts.sum()
    test_counts = counts(split)
    return float(-(test_counts * np.log2(probabilities)).sum() / test_counts.sum())


def forecast_baselines(splits, output_steps, season):
    """Mean absolute errors of the naive forecast (the last value, repeated)
    and the seasonal-naive one (the value a season before each target) on
    the held-out tail of `splits` (a `memzoo.data.series.SeriesDatasets`),
    in the series' units.

    Example:

    ```python
    splits = memzoo.data.series.series_datasets(
        np.sin(np.arange(200) / 5.0), window=20, batch_size=16, test_size=40)
    memzoo.evaluation.forecast_baselines(splits, output_steps=1, season=31)
    # {'naive': 0.1..., 'seasonal_naive': 0.0...}
    ```
    """
    values = splits.values[:, 0]
    # Forecast origins: the last input step of each held-out window.
    origins = np.arange(splits.test_start - 1, len(values) - output_steps)
    horizon = np.arange(1, output_steps + 1)
    targets = values[origins[:, None] + horizon]
    naive = np.abs(targets - values[origins][:, None]).mean()
    seasonal = np.abs(targets - values[origins[:, None] + horizon - season]).mean()
    return {"naive": float(naive), "seasonal_naive": float(seasonal)}


def _evaluate_token_model(model, data_source, split, batch_size, sequence_length,
                          max_batches, data_dir, baselines, seed):
    task = training.memory_task(data_source)
    if task is not None:
        function, arguments = task
        dataset = function(batch_size, seed=seed, num_batches=max_batches or 50,
                           **arguments)
    else:
        if data_source is None:
            data_source, _ = data.default_corpus_files()
        dataset = data.language_model_dataset(
            data_source, check_integer("sequence_length", sequence_length, minimum=2),
            batch_size, split=split, shuffle=False, data_dir=data_dir,
        )
        if max_batches is not None:
            dataset = dataset.take(max_batches)
    dataset = training.finite_dataset(dataset, split)
    # On a memory task the batches' sample weights mark the answer: the
    # scores are over it alone. Without weights they are over every token.
    model.compile(jit_compile=False, **training.weighted_token_scores())
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    scores = {
        "loss": results["loss"],
        "bits_per_character": results["bits_per_character"],
        "perplexity": math.exp(results["loss"]),
    }
    if task is not None:
        scores["accuracy"] = results["accuracy"]
    if baselines and task is not None:
        name = data_source.partition(":")[0]
        scores["baseline_chance_accuracy"] = data.tasks.chance_accuracy(
            name, **task[1]
        )
    elif baselines:
        scores["baseline_unigram_bits_per_character"] = unigram_bits_per_character(
            data_source, split, sequence_length, data_dir
        )
    return scores


def _evaluate_classifier(model, data_source, split, batch_size, sequence_length,
                         max_batches, data_dir, baselines):
    tokenizer = model.text_vectorization or model.tokenizer
    if tokenizer is None:
        raise ValueError(
            "Invalid value for argument `model`. Expected a TextClassifier "
            "with a tokenizer (bytes or a word vocabulary), as `memzoo train` "
            "makes them. Received: a model with tokenizer=None"
        )

    dataset = data.classification_dataset(
        data_source, batch_size, tokenizer=tokenizer, split=split,
        max_length=sequence_length, shuffle=False, data_dir=data_dir,
    )
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = training.finite_dataset(dataset, split)
    model.compile(jit_compile=False)
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    scores = {"loss": results["loss"], "accuracy": results["accuracy"]}
    if baselines:
        # The class most frequent in the training split, always guessed.
        counts = collections.Counter()
        pairs = data.supervised_dataset(data_source, "train", data_dir)
        for _, labels in pairs.batch(4096):
            counts.update(labels.numpy().tolist())
        majority = counts.most_common(1)[0][0]
        labels = np.concatenate([y.numpy() for _, y in dataset])
        scores["baseline_majority_class_accuracy"] = float(
            np.mean(labels == majority)
        )
    return scores


def _evaluate_regressor(model, data_source, split, batch_size, window, max_batches,
                        baselines):
    if split not in ("train", "test"):
        raise ValueError(
            "Invalid value for argument `split`. Expected 'train' or 'test' "
            f"(the held-out tail) for a series. Received: split={split!r}"
        )
    splits = data.series.series_datasets(
        data_source, window=window, batch_size=batch_size,
        output_steps=model.output_steps, shuffle=False,
    )
    dataset = splits.test if split == "test" else splits.train
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = training.finite_dataset(dataset, split)
    predictions = model.predict(dataset, verbose=0)
    normalized_targets = np.concatenate([y for _, y in dataset])
    errors = splits.denormalize(predictions) - splits.denormalize(normalized_targets)
    scores = {
        # The loss, the model's mean squared error, is of the normalized series.
        "loss": float(np.mean((predictions - normalized_targets) ** 2)),
        "mae": float(np.abs(errors).mean()),
        "rmse": float(np.sqrt((errors**2).mean())),
    }
    if baselines and split == "test" and max_batches is None:
        season = (data.series.seasonal_period(data_source)
                  if isinstance(data_source, str) else 1)
        for name, value in forecast_baselines(
            splits, model.output_steps, season
        ).items():
            scores[f"baseline_{name}_mae"] = value
    return scores


def _evaluate_translator(model, data_source, split, batch_size, sequence_length,
                         max_batches, data_dir, baselines, beam_size):
    dataset = data.translation_dataset(
        data_source, batch_size, split=split, max_length=sequence_length,
        shuffle=False, data_dir=data_dir,
    ).map(Seq2SeqTranslator.teacher_forcing)
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = training.finite_dataset(dataset, split)
    model.compile(jit_compile=False)
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    # BLEU on the very pairs of the batches: the texts, back from their ids.
    tokenizer = data.ByteTokenizer()
    sources, references = [], []
    for (source_ids, target_input_ids), _ in dataset:
        sources.extend(_texts(tokenizer, source_ids))
        references.extend(_texts(tokenizer, target_input_ids))
    bleu, _ = translation_bleu(
        model, sources, references, beam_size=beam_size,
        max_length=sequence_length, batch_size=batch_size,
    )
    scores = {
        "loss": results["loss"],
        "token_accuracy": results["accuracy"],
        "bleu": bleu.score,
    }
    if baselines:
        scores["baseline_copy_source_bleu"] = corpus_bleu(sources, references).score
    return scores


def _texts(tokenizer, ids):
    """Strings of byte-token ids (padding, start and end ids stand for nothing)."""
    return [t.decode("utf-8", "replace") for t in tokenizer.detokenize(ids).numpy()]
