"""Real numeric series that load offline, windowed into `tf.data` for forecasting.

The series ship with `statsmodels` (an optional extra: `pip install
statsmodels`), which is imported only when one is loaded:

* `"co2"`: weekly atmospheric CO2 at Mauna Loa, ppm, March 1958 to December
  2001 (2,284 weeks; 59 missing weeks, at most 18 in a row, are filled by
  linear interpolation in time). Season: 52 weeks.
* `"sunspots"`: yearly mean sunspot number, 1700 to 2008 (309 years). Season:
  the 11-year solar cycle.
"""

import dataclasses
import importlib

import keras
import numpy as np
import tensorflow as tf

from memzoo.validation import check_integer

STATSMODELS_INSTALL = "pip install statsmodels"

# name -> (statsmodels dataset module, value column, seasonal period in steps)
SERIES = {
    "co2": ("statsmodels.datasets.co2", "co2", 52),
    "sunspots": ("statsmodels.datasets.sunspots", "SUNACTIVITY", 11),
}


def load_series(name):
    """A real series by name, as float32 values `[time]`, gaps filled.

    Args:
        name: str. `"co2"` or `"sunspots"` (see the module docstring).

    Returns:
        A 1-D float32 numpy array, oldest value first.

    Example:

    ```python
    values = memzoo.data.series.load_series("sunspots")   # 309 yearly values
    ```
    """
    if name not in SERIES:
        raise ValueError(
            f"Invalid value for argument `name`. Expected one of "
            f"{sorted(SERIES)}. Received: name={name!r}"
        )
    module_name, column, _ = SERIES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"The {name!r} series ships with statsmodels, which is not "
            f"installed. Install it with `{STATSMODELS_INSTALL}`."
        ) from error
    values = module.load_pandas().data[column].to_numpy(dtype="float64")
    return fill_gaps(values).astype("float32")


def seasonal_period(name):
    """The season of a named series in steps (52 weeks for co2, 11 years for sunspots)."""
    if name not in SERIES:
        raise ValueError(
            f"Invalid value for argument `name`. Expected one of "
            f"{sorted(SERIES)}. Received: name={name!r}"
        )
    return SERIES[name][2]


def fill_gaps(values):
    """Fills NaNs by linear interpolation between their neighbours.

    The co2 series is evenly spaced in time (weekly), so interpolating over
    the index is interpolating in time. NaNs before the first or after the
    last known value take that value.
    """
    values = np.array(values, dtype="float64")
    columns = values.reshape(len(values), -1)
    index = np.arange(len(values))
    for column in columns.T:
        known = ~np.isnan(column)
        if not known.any():
            raise ValueError(
                "Invalid value for argument `values`. Expected a series with "
                "known values. Received: only NaNs"
            )
        column[~known] = np.interp(index[~known], index[known], column[known])
    return columns.reshape(values.shape)


@dataclasses.dataclass
class SeriesDatasets:
    """Training and held-out windows of one series, and how they were scaled.

    Attributes:
        train: `tf.data.Dataset` of `(inputs [batch, window, features],
            targets [batch, output_steps])`, normalized, targets before the
            held-out tail.
        test: the same for every forecast whose targets all lie in the tail
            (its inputs may reach back before the tail: the past is known).
        mean: float32 `[features]`, fitted on the training part only.
        std: float32 `[features]`, likewise.
        values: float32 `[time, features]`, the whole series, not normalized.
        test_start: int. Index in `values` of the first held-out value.
    """

    train: tf.data.Dataset
    test: tf.data.Dataset
    mean: np.ndarray
    std: np.ndarray
    values: np.ndarray
    test_start: int

    def denormalize(self, forecasts):
        """Normalized forecasts of the target (feature 0) -> original units."""
        return np.asarray(forecasts) * self.std[0] + self.mean[0]


def series_datasets(
    source,
    window,
    batch_size,
    output_steps=1,
    test_size=0.1,
    shuffle=True,
    seed=None,
):
    """Windows of a series for forecasting, with a held-out tail.

    Each example is `window` consecutive values and, as targets, the next
    `output_steps` values of feature 0. The last `test_size` values are held
    out: training windows only have targets before them, test windows only
    targets in them. Values are normalized with the mean and standard
    deviation of the training part alone, so nothing of the tail leaks into
    training. Windowing is `keras.utils.timeseries_dataset_from_array`.

    Args:
        source: str or array. A name for `load_series` (`"co2"`,
            `"sunspots"`), or values `[time]` or `[time, features]` (NaN gaps
            are filled as in `fill_gaps`).
        window: int. Input steps per example.
        batch_size: int. Examples per batch (the last batch may be smaller).
        output_steps: int. How many future values each example forecasts.
        test_size: int or float. Held-out values at the end: a count, or a
            fraction of the series in (0, 1).
        shuffle: bool. Whether to shuffle the training windows (seeded).
        seed: int or `None`. The shuffling seed.

    Returns:
        A `SeriesDatasets`.

    Example:

    ```python
    splits = memzoo.data.series.series_datasets(
        np.sin(np.arange(200) / 5.0), window=20, batch_size=16, output_steps=2,
        test_size=40)
    inputs, targets = next(iter(splits.train))   # [16, 20, 1], [16, 2]
    ```
    """
    window = check_integer("window", window)
    batch_size = check_integer("batch_size", batch_size)
    output_steps = check_integer("output_steps", output_steps)
    if isinstance(source, str):
        values = load_series(source)
    else:
        values = fill_gaps(source).astype("float32")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(
            "Invalid value for argument `source`. Expected values of shape "
            f"[time] or [time, features]. Received: shape={values.shape}"
        )
    length = len(values)
    test_size = _held_out_count(test_size, length)
    test_start = length - test_size
    needed = window + output_steps
    if test_start < needed or test_size < output_steps:
        raise ValueError(
            "Invalid value for argument `test_size`. Expected room for at "
            f"least one training window ({needed} values) and one test "
            f"forecast ({output_steps} values) in the {length} values. "
            f"Received: test_size={test_size}, window={window}, "
            f"output_steps={output_steps}"
        )
    train_part = values[:test_start]
    mean = train_part.mean(axis=0)
    # A constant feature keeps its scale rather than dividing by zero.
    std = np.where(train_part.std(axis=0) > 0, train_part.std(axis=0), 1.0)
    normalized = ((values - mean) / std).astype("float32")
    return SeriesDatasets(
        train=_windows(normalized[:test_start], window, output_steps,
                       batch_size, shuffle, seed),
        test=_windows(normalized[test_start - window :], window, output_steps,
                      batch_size, False, None),
        mean=mean.astype("float32"),
        std=std.astype("float32"),
        values=values,
        test_start=test_start,
    )


def forecast_baselines(splits, output_steps, season):
    """Mean absolute errors of the naive forecast (the last value, repeated)
    and the seasonal-naive one (the value a season before each target) on
    the held-out tail of `splits` (a `memzoo.data.series.SeriesDatasets`),
    in the series' units.

    Example:

    ```python
    splits = memzoo.data.series.series_datasets(
        np.sin(np.arange(200) / 5.0), window=20, batch_size=16, test_size=40)
    memzoo.data.series.forecast_baselines(splits, output_steps=1, season=31)
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


def _held_out_count(test_size, length):
    if isinstance(test_size, float) and 0 < test_size < 1:
        return max(1, int(round(test_size * length)))
    return check_integer("test_size", test_size)


def _windows(values, window, output_steps, batch_size, shuffle, seed):
    """Every window of `values` whose `output_steps` targets follow inside it."""
    count = len(values) - window - output_steps + 1
    # targets[i] are the values right after the window that starts at i.
    targets = np.stack(
        [values[window + step : window + step + count, 0]
         for step in range(output_steps)],
        axis=1,
    )
    return keras.utils.timeseries_dataset_from_array(
        values[: count + window - 1],
        targets,
        sequence_length=window,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
    )
