import typing

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from memzoo.data import get_tokenizer
from memzoo.models import xla_speed
from memzoo.models.presets import PresetMixin


# The fraction of a labelled training split that `memzoo train` validates
# on (by `memzoo.data.hold_out`), so that choosing among runs never sees the
# test split.
VALIDATION_SPLIT = 0.1


class TrainingData(typing.NamedTuple):
    """What a family's `training_data()` gives `memzoo train`.

    Attributes:
        train: an endless `tf.data.Dataset` of `(x, y)` or `(x, y,
            sample_weight)` batches, the same for the same seed.
        validation: a finite dataset of batches not trained on: part of
            the training split where the family can carve it
            (`VALIDATION_SPLIT`), else the test split's first batches.
        count_pass: a callable giving the batches of one pass over the
            training split, or `None` for an endless stream (a memory task).
        config: dict. Config values the data decides (a word vocabulary
            adapted on it), to build the model with.
        answer_only: bool. The batches' `sample_weight` marks the answer:
            loss and metrics are means over it.
    """

    train: typing.Any
    validation: typing.Any
    count_pass: typing.Any = None
    config: dict = {}
    answer_only: bool = False


class ZooModel(PresetMixin, keras.Model):
    """Base class of memzoo's models: what every one of them shares.

    `from_preset()`; a `compile()` whose `"auto"` arguments take the model's
    own defaults (a subclass lists them in `compile_defaults()`) and which,
    with `jit_compile=True`, switches the recurrent layers to kernels XLA
    can compile; recompiling a loaded model as it was saved; and the checks
    of a tokenizer and of token-id inputs against `vocab_size`, and of a
    carried `initial_state` against what `get_initial_state()` makes.

    It also declares the protocol through which training, evaluation,
    export, tuning and the command line use a family without knowing it:
    `training_data()` (how raw data becomes batches), `input_signature()`
    (what `call()` takes), `evaluate_held_out()` (its scores and no-skill
    baselines) and `add_serving_endpoints()` (its serving signatures).
    """

    # What `memzoo eval` scores with when given no sequence length (`None`:
    # it must be given, as a forecaster's window).
    default_sequence_length = 128
    # Whether its loss is a next-token cross-entropy, whose exponential a
    # run reports as perplexity.
    reports_perplexity = False
    # Whether `training_data(..., stateful=True)` gives stream batches on a
    # corpus, which `fit` trains on with the state carried from step to step.
    supports_stateful_training = False
    # Whether `memzoo train` trains it statefully unless told (where it can):
    # only where that was measured to score better at equal time.
    trains_statefully_by_default = False

    @classmethod
    def training_data(cls, config, data_source, batch_size, sequence_length,
                      seed, validation_batches, data_dir=None):
        """The batches a model of `config` trains on: a `TrainingData`.

        Args:
            config: dict. The config the model will be built with.
            data_source: what the family reads (a corpus, a memory task, a
                labelled tfds name, a series, sentence pairs).
            batch_size: int. Examples per batch.
            sequence_length: int. Tokens (or steps) per example.
            seed: int. Fixes the data order.
            validation_batches: int. Held-out batches to keep.
            data_dir: str or `None`. The tensorflow-datasets folder.
        """
        raise NotImplementedError(
            f"{cls.__name__} does not say how it is trained: it has no "
            "`training_data()`."
        )

    def compile_arguments(self, answer_only=False):
        """`compile()` arguments for training on data whose `TrainingData`
        has `answer_only`; `{}` (the defaults) here."""
        return {}

    def input_signature(self):
        """The `tf.TensorSpec` (or tuple of them) of what `call()` takes, batch
        and time left open: token ids `[batch, time]` int32 here."""
        return tf.TensorSpec([None, None], tf.int32, name="token_ids")

    def build_from_signature(self):
        """Builds the model for inputs of `input_signature()`, if unbuilt."""
        if not self.built:
            self.build(tf.nest.map_structure(
                lambda spec: tuple(spec.shape), self.input_signature()
            ))

    def evaluate_held_out(self, data_source, split="test", batch_size=32,
                          sequence_length=None, max_batches=None,
                          data_dir=None, baselines=False, beam_size=1,
                          seed=None):
        """Scores on held-out data, in the family's own terms (a dict of
        floats), with `baselines` the no-skill scores as `baseline_*`; see
        `memzoo.evaluation.evaluate`, which checks the arguments."""
        raise NotImplementedError(
            f"{type(self).__name__} does not say how it is scored: it has no "
            "`evaluate_held_out()`."
        )

    def _require_data(self, data_source):
        # Only a next-token model has a default corpus to be scored on.
        if data_source is None:
            raise ValueError(
                "Invalid value for argument `data`. A "
                f"{type(self).__name__} needs the data it is scored on, e.g. "
                "the `data` of its preset (`memzoo list`). Received: data=None"
            )

    def add_serving_endpoints(self, archive, limits, tokenizer=None):
        """Adds the family's signatures to a `keras.export.ExportArchive`.

        `limits` holds `max_batch_size`, `max_input_length` and
        `max_new_tokens`, which every signature enforces. Returns the
        warm-up requests: `{signature: {input name: array}}`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not say how it is served: it has no "
            "`add_serving_endpoints()`."
        )

    def export(self, filepath, format="tf_saved_model", verbose=None,
               input_signature=None, **kwargs):
        """`keras.Model.export` with the model's own `input_signature()`.

        Keras infers a subclassed model's signature from its first call, as
        float32 of that call's shapes; a token model's is int32 ids of any
        length. For TF Serving with state and limits, use
        `memzoo.export_saved_model`.
        """
        if input_signature is None:
            self.build_from_signature()
            # One positional argument: ids, or a translator's pair of them.
            input_signature = [self.input_signature()]
        return super().export(filepath, format=format, verbose=verbose,
                              input_signature=input_signature, **kwargs)

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        jit_compile="auto",
        **kwargs,
    ):
        """`keras.Model.compile` with the model's defaults.

        An argument given as `"auto"` (or a default one left out) takes the
        value of `compile_defaults()`. `jit_compile=True` switches the LSTMs
        to their XLA-compatible kernel. `jit_compile="auto"` is whichever
        trains this model faster here: the first `fit()` of at least
        `xla_speed.MIN_STEPS_TO_MEASURE` steps on a `tf.data.Dataset` or
        arrays times a few steps of a copy each way and keeps the faster
        (`xla_choice` says what it measured); until then, and for shorter
        fits, it is Keras's `"auto"` (no XLA on a CPU-only machine).
        """
        arguments = {"optimizer": optimizer, "loss": loss, "metrics": metrics,
                     **kwargs}
        for name, value in self.compile_defaults().items():
            given = arguments.get(name, "auto")
            if isinstance(given, str) and given == "auto":
                arguments[name] = value
        if jit_compile is True:
            self._use_xla_compatible_layers()
        self._measure_jit_compile = (
            isinstance(jit_compile, str) and jit_compile == "auto"
        )
        self.xla_choice = None
        super().compile(jit_compile=jit_compile, **arguments)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
            callbacks=None, validation_split=0.0, validation_data=None,
            shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, **kwargs):
        """`keras.Model.fit`; with `compile(jit_compile="auto")`, a long
        enough first fit measures whether XLA trains faster (see
        `compile()`)."""
        if getattr(self, "_measure_jit_compile", False):
            self._measure_jit_compile = False
            self._choose_jit_compile(x, y, batch_size, sample_weight,
                                     (epochs - initial_epoch), steps_per_epoch)
        return super().fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle,
            class_weight=class_weight, sample_weight=sample_weight,
            initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
            **kwargs,
        )

    def _choose_jit_compile(self, x, y, batch_size, sample_weight, epochs,
                            steps_per_epoch):
        if isinstance(x, tf.data.Dataset):
            batches = steps_per_epoch or int(x.cardinality())
            # A new iterator of the dataset: a seeded shuffle that reshuffles
            # each pass gives this fit the order of a later pass.
            batch = next(iter(x.take(1)), None)
        elif isinstance(x, np.ndarray) and not isinstance(y, (dict, list)):
            batch_size = batch_size or 32
            batches = steps_per_epoch or -(-len(x) // batch_size)
            batch = tuple(
                array[:batch_size] for array in (x, y, sample_weight)
                if array is not None
            )
        else:
            return  # Generators and the like: Keras's "auto".
        if batch is None or batches < 0 or (
                epochs * batches < xla_speed.MIN_STEPS_TO_MEASURE):
            return
        if not isinstance(batch, tuple):
            batch = (batch,)
        config = self.get_compile_config()

        def make_copy(jit_compile):
            copy = type(self).from_config(self.get_config())
            copy.compile_from_config({**config, "jit_compile": jit_compile})
            return copy

        self.xla_choice = xla_speed.measure_jit_compile(make_copy, batch)
        if self.xla_choice["jit_compile"]:
            self._use_xla_compatible_layers()
        self.jit_compile = self.xla_choice["jit_compile"]
        self.train_function = None

    def compile_defaults(self):
        """What `compile()` uses for each argument left `"auto"`: Adam at a
        learning rate of 1e-3, and no loss or metrics (subclasses add theirs)."""
        return {"optimizer": keras.optimizers.Adam(1e-3), "loss": None,
                "metrics": None}

    def compile_from_config(self, config):
        """Recompiles a loaded model as it was saved (loss, metrics, optimizer).

        Keras skips a custom `compile()` on loading; this one takes Keras's
        own arguments, so the saved ones apply unchanged.
        """
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Without a distribution strategy, Keras leaves the model's, the
        # optimizer's and the metrics' variables to be made inside the first
        # traced step, and `tf.function` then traces that step twice (once
        # making them, once without): the first step of a memory model took
        # twice as long. Keras builds them first under a strategy; this does
        # it always, from the data's shapes, so no batch is drawn. Keras
        # private API (this method, `_symbolic_build`, the epoch iterator's
        # dataset): the language models' real-text fit test counts traces.
        if self._distribute_strategy is not None:
            return super()._maybe_symbolic_build(iterator, data_batch)
        if data_batch is None:
            data_batch = iterator._distributed_dataset.element_spec
        self._symbolic_build(data_batch=data_batch)

    def _use_xla_compatible_layers(self):
        # A cuDNN LSTM or GRU is not XLA-compatible (keras issue 18456) and
        # Keras then silently turns XLA off; the generic kernels compile.
        for layer in self._flatten_layers():
            if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
                layer.use_cudnn = False
                layer.supports_jit = True

    @staticmethod
    def _check_tokenizer(tokenizer, vocab_size):
        instance = get_tokenizer(tokenizer)
        if instance is not None and instance.vocabulary_size > vocab_size:
            raise ValueError(
                "Invalid value for argument `vocab_size`. Expected at least "
                f"{instance.vocabulary_size}, the size of the {tokenizer!r} "
                f"tokenizer's vocabulary. Received: vocab_size={vocab_size}"
            )

    @staticmethod
    def _whole_ids(token_ids):
        """Float ids that are whole numbers, cast to int32; others refused.

        Keras's distributed `fit` averages a batch of integer ids into floats
        when it builds a model symbolically, so whole-valued floats are
        accepted, as `keras.layers.Embedding` accepts them.
        """
        message = (
            "Invalid value for argument `token_ids`. Expected integer token "
            f"ids. Received: dtype={token_ids.dtype.name} with fractions"
        )
        if tf.executing_eagerly():
            if not bool(tf.reduce_all(tf.equal(tf.floor(token_ids), token_ids))):
                raise ValueError(message)
        else:
            tf.debugging.assert_equal(tf.floor(token_ids), token_ids, message)
        return tf.cast(token_ids, "int32")

    def _check_token_ids(self, token_ids):
        """Refuses ids outside [0, vocab_size) instead of reading garbage.

        Eagerly this raises a `ValueError`; in a `tf.function` an assertion
        raises `InvalidArgumentError`. XLA drops assertions (and clamps
        out-of-range gathers), so compiled callers check their inputs first,
        as `generate()` and the data pipelines do.
        """
        token_ids = ops.convert_to_tensor(token_ids)
        if not token_ids.dtype.is_integer:
            token_ids = self._whole_ids(token_ids)
        if tf.executing_eagerly():
            if not tf.size(token_ids):
                return token_ids
            low, high = int(tf.reduce_min(token_ids)), int(tf.reduce_max(token_ids))
            if low < 0 or high >= self.vocab_size:
                raise ValueError(
                    "Invalid value for argument `token_ids`. Expected ids in "
                    f"[0, {self.vocab_size}). Received: ids from {low} to {high}"
                )
            return token_ids
        message = f"`token_ids` must be in [0, {self.vocab_size})"
        with tf.control_dependencies([
            tf.debugging.assert_non_negative(token_ids, message=message),
            tf.debugging.assert_less(
                token_ids, tf.cast(self.vocab_size, token_ids.dtype),
                message=message,
            ),
        ]):
            return tf.identity(token_ids)

    def _check_state(self, initial_state, batch_size, inputs_name="token_ids"):
        """Refuses a state that `get_initial_state(batch_size)` would not make.

        Keys and each entry's shape after the batch axis are compared with
        `get_initial_state(1)`'s, worked out once per model. The batch size
        is compared with `batch_size`, the one of `inputs_name`: when both
        are static (always eagerly) a mismatch raises a `ValueError`;
        otherwise an assertion raises `InvalidArgumentError` before the state
        is read (XLA drops assertions, as `_check_token_ids` says). Returns
        the state, to be read instead of `initial_state`.
        """
        expected = self.__dict__.get("_memzoo_state_shapes")
        if expected is None:
            # Kept off Keras's attribute tracking, which would save it.
            expected = {name: tuple(value.shape[1:])
                        for name, value in self.get_initial_state(1).items()}
            self.__dict__["_memzoo_state_shapes"] = expected
        names = list(initial_state) if isinstance(initial_state, dict) else None
        if names is None or sorted(names) != sorted(expected):
            if names is None:
                received = f"a {type(initial_state).__name__}"
            else:
                missing = sorted(set(expected) - set(names))
                extra = sorted(set(names) - set(expected))
                received = ", ".join(
                    [f"missing keys {missing}"] * bool(missing)
                    + [f"extra keys {extra}"] * bool(extra)
                )
            raise ValueError(
                "Invalid value for argument `initial_state`. Expected a dict "
                f"with the keys {sorted(expected)}, as `get_initial_state()` "
                f"returns. Received: {received}"
            )
        dynamic = []
        for name in names:
            shape = tf.TensorShape(initial_state[name].shape)
            if shape.rank is None:
                dynamic.append(initial_state[name])
                continue
            shape, want = tuple(shape.as_list()), expected[name]
            if len(shape) != 1 + len(want) or any(
                got is not None and got != size
                for got, size in zip(shape[1:], want)
            ):
                raise ValueError(
                    "Invalid value for argument `initial_state`. Expected "
                    f"initial_state[{name!r}] of shape "
                    f"[{', '.join(['batch', *map(str, want)])}], as "
                    "`get_initial_state()` returns. Received: "
                    f"shape={shape}"
                )
            if shape[0] is None or not isinstance(batch_size, int):
                dynamic.append(initial_state[name])
            elif shape[0] != batch_size:
                raise ValueError(
                    "Invalid value for argument `initial_state`. Expected a "
                    f"state for the batch size of `{inputs_name}`, "
                    f"{batch_size}, as `get_initial_state({batch_size})` "
                    f"returns. Received: a state for batch size {shape[0]} "
                    f"(initial_state[{name!r}] of shape {shape})"
                )
        if not dynamic:
            return initial_state
        batches = tf.stack([tf.shape(value)[0] for value in dynamic])
        batch_size = tf.cast(batch_size, batches.dtype)
        matches = tf.equal(batches, batch_size)
        first_mismatch = batches[tf.argmin(tf.cast(matches, "int32"))]
        check = tf.debugging.Assert(tf.reduce_all(matches), [
            "Invalid value for argument `initial_state`. Expected a state for "
            f"the batch size of `{inputs_name}`. Received: a state for batch "
            "size", first_mismatch, f"and `{inputs_name}` of batch size",
            batch_size,
        ])
        # Read only after the check, so that a mismatch is reported by it
        # rather than by the first op that combines state and inputs.
        with tf.control_dependencies([check]):
            return {name: tf.identity(value)
                    for name, value in initial_state.items()}
