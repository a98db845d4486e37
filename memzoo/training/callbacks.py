"""The callbacks of every memzoo fit, and its throughput."""

import time

import keras


def fit_callbacks(log_dir=None):
    """`(timer, callbacks)`: the callbacks of every memzoo `fit`.

    The timer (first of `callbacks`) measures the training throughput;
    then `TerminateOnNaN`, and `TensorBoard` into `log_dir` when given.
    """
    timer = _EpochTimer()
    callbacks = [timer, keras.callbacks.TerminateOnNaN()]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir))
    return timer, callbacks


class _EpochTimer(keras.callbacks.Callback):
    """Times the training epochs after the first (which includes tracing)."""

    def __init__(self):
        super().__init__()
        self.durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # Validation runs inside the epoch: time the training steps only.
        self.durations.append(time.perf_counter() - self._started)

    def on_test_begin(self, logs=None):
        self._test_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self._started += time.perf_counter() - self._test_started

    @property
    def steady_seconds_per_epoch(self):
        steady = self.durations[1:] or self.durations
        return sum(steady) / len(steady) if steady else None

    def tokens_per_second(self, tokens_per_epoch):
        """Training tokens per second, `None` before an epoch has ended."""
        seconds = self.steady_seconds_per_epoch
        return seconds and tokens_per_epoch / seconds


def tokens_per_batch(dataset, batch_size=None, sequence_length=None):
    """Batch size times sequence length (which a memory task sets).

    Sizes the dataset leaves open (a series' windows) count as
    `batch_size` and `sequence_length`.
    """
    inputs = dataset.element_spec[0]
    # A translator's inputs are (source, target): count the source tokens;
    # stream batches are {"token_ids", "reset"}.
    first = inputs[0] if isinstance(inputs, tuple) else inputs
    if isinstance(first, dict):
        first = first["token_ids"]
    batch, length, *_ = first.shape
    return (batch or batch_size) * (length or sequence_length)
