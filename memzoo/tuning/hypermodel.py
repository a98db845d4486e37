"""`MemoryHyperModel`: a zoo language model whose memory sizes keras-tuner draws."""

import keras
import keras_tuner

from memzoo import data
from memzoo import training
from memzoo.models.presets import get_preset
from memzoo.tuning.results import OBJECTIVE
from memzoo.validation import check_integer


class MemoryHyperModel(keras_tuner.HyperModel):
    """A keras-tuner `HyperModel` over the memory sizes of a zoo language model.

    `build(hp)` makes the preset's model with `working_memory` drawn by
    `hp.Int(..., sampling="log", step=2)` (W in {low, 2 low, 4 low, ...}),
    `long_short_term_memory` by `hp.Choice`, and, when given choices,
    `segment_length` (else S = W), `hidden_dim`, `num_layers` and a
    log-uniform `learning_rate`; it compiles the model as `memzoo train`
    does. `fit(hp, model, ...)` trains it for `steps` steps on
    `data_source` through `memzoo.training`'s pipeline and callbacks (plus
    keras-tuner's) (with `stateful`, statefully; validation reads windows
    from a fresh state either way), in `epochs` Keras epochs, each followed
    by validation,
    and returns the best epoch's `val_loss` and `val_bits_per_character`
    with the training `tokens_per_second` and the model's `parameters`.
    Every trial starts from the same seed, so trials differ by their
    hyperparameters only.

    Args:
        preset: str. A language-model preset with memory sizes
            (`biglm_tiny`, ...).
        data_source: a source for `memzoo.data.language_model_dataset`, or
            a memory task such as `"associative_recall:num_pairs=1,distance=32"`
            (see `memzoo.data.tasks.memory_task`), whose loss and metrics count
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
        sequence_length: int or `None`. Tokens per sequence (`None`: the
            preset's, else 128, as for `memzoo train`; a memory task sets
            its own).
        warmup_steps: int. Steps of linear learning-rate warm-up.
        validation_batches: int. Held-out batches per validation.
        jit_compile: bool. Compile the training step with XLA.
        stateful: bool or `None`. Carry the state from batch to batch, as
            `memzoo.training.train(stateful=True)` does (a corpus only);
            `None`: as `memzoo.training.train` does by default.
        stream_length: int or `None`. When stateful, the tokens between two
            resets (default `memzoo.training.STREAM_WINDOWS` windows; 0:
            whole documents).
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
        sequence_length=None,
        warmup_steps=20,
        validation_batches=20,
        jit_compile=True,
        stateful=None,
        stream_length=None,
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
        self.sequence_length = training.check_sequence_length(
            sequence_length, preset)
        self.warmup_steps = check_integer("warmup_steps", warmup_steps, minimum=0)
        self.validation_batches = check_integer(
            "validation_batches", validation_batches
        )
        self.jit_compile = bool(jit_compile)
        self.stateful = training.stateful_choice(
            training.check_stateful(stateful), preset, data_source)
        self.stream_length = training.check_stream_length(
            stream_length, self.sequence_length)
        self.seed = check_integer("seed", seed, minimum=0)
        self.data_dir = data_dir
        # Refuses a task's bad arguments now rather than in every trial.
        self._task = data.tasks.memory_task(data_source)
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
        model.build_from_signature()
        # So the checkpoints keras-tuner writes and loads carry its state.
        model.optimizer.build(model.trainable_variables)
        return model

    def datasets(self):
        """`(train_stream, validation_data)` of `data_source`, made once."""
        if self._datasets is None:
            data_source = self.data_source
            if data_source is None:
                data_source, _ = data.default_corpus_files()
            batches = training.trainable_class(self.preset).training_data(
                {**get_preset(self.preset)["config"], **self.overrides},
                data_source, self.batch_size, self.sequence_length,
                self.seed, self.validation_batches, self.data_dir,
                **({"stateful": True, "stream_length": self.stream_length}
                   if self.stateful else {}),
            )
            self._datasets = (
                training.shard_by_data(batches.train),
                data.finite_dataset(training.shard_by_data(batches.validation),
                                    "validation"),
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
