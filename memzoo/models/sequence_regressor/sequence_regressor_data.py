"""How a `SequenceRegressor` reads a series, and what it is scored on."""

import numpy as np

from memzoo import data
from memzoo.models.zoo_model import TrainingData


def training_data(model_class, config, data_source, batch_size,
                  sequence_length, seed, validation_batches, data_dir=None):
    """Shuffled windows of `sequence_length` values of a series of
    `memzoo.data.series` (a name or values), forecasting its
    `output_steps`; the held-out batches are of its tail."""
    splits = data.series.series_datasets(
        data_source, window=sequence_length, batch_size=batch_size,
        output_steps=config.get("output_steps", 1), shuffle=True, seed=seed,
    )
    return TrainingData(
        train=splits.train.repeat(),
        validation=splits.test.take(validation_batches),
        count_pass=lambda: sum(1 for _ in splits.train),
    )


def evaluate_held_out(model, data_source, split="test", batch_size=32,
                      sequence_length=None, max_batches=None, data_dir=None,
                      baselines=False, beam_size=1, seed=None):
    """The loss (of the normalized series), and MAE and RMSE in the series'
    units; the baselines are the naive and seasonal-naive forecasts, scored
    on the whole held-out tail only."""
    model._require_data(data_source)
    if split not in ("train", "test"):
        raise ValueError(
            "Invalid value for argument `split`. Expected 'train' or 'test' "
            f"(the held-out tail) for a series. Received: split={split!r}"
        )
    splits = data.series.series_datasets(
        data_source, window=sequence_length, batch_size=batch_size,
        output_steps=model.output_steps, shuffle=False,
    )
    dataset = splits.test if split == "test" else splits.train
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = data.finite_dataset(dataset, split)
    predictions = model.predict(dataset, verbose=0)
    normalized_targets = np.concatenate([y for _, y in dataset])
    errors = splits.denormalize(predictions) - splits.denormalize(normalized_targets)
    scores = {
        "loss": float(np.mean((predictions - normalized_targets) ** 2)),
        "mae": float(np.abs(errors).mean()),
        "rmse": float(np.sqrt((errors**2).mean())),
    }
    if baselines and split == "test" and max_batches is None:
        season = (data.series.seasonal_period(data_source)
                  if isinstance(data_source, str) else 1)
        for name, value in data.series.forecast_baselines(
            splits, model.output_steps, season
        ).items():
            scores[f"baseline_{name}_mae"] = value
    return scores
