"""The checks every memzoo model must pass, as keras-hub's test helpers.

keras-hub (`keras_hub/src/tests/test_case.py`) gives each model's test the
same few helpers: `run_backbone_test`, `run_task_test`, `run_preset_test`,
`run_model_saving_test`. memzoo's are the methods of `TestCase`, which a
family's test class derives from and calls with the family's tiny config
and inputs (numpy arrays, or a tuple of them for a model of several inputs):

* `run_model_test`: the shapes, variable batch and length, config and JSON
  round trips, `predict` on a `tf.data` dataset, `.keras` saving, and
  Keras's own habits (`export` then serving, `summary`, `clone_model`),
  then `run_precision_test` (mixed precision);
* `run_jit_compile_test`: XLA-compiled training gives eager's result;
* `run_preset_test`: a preset directory round trip;
* `run_stateful_test`: memzoo's carried state.

`LanguageModelTests` adds what only a language model has (`generate()`, its
training on real text), as tests that a language model's class inherits.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo


def real_text(num_bytes):
    """The first `num_bytes` of the default corpus (or of the stdlib)."""
    _, paths = memzoo.data.default_corpus_files()
    return memzoo.data.read_texts(paths, max_bytes=num_bytes)


def count_traces(model, *methods):
    """How many times each of `model`'s `methods` is called (traced, when it
    runs in a `tf.function`) from now on."""
    counts = dict.fromkeys(methods, 0)

    def counted(name, method):
        def call(*args, **kwargs):
            counts[name] += 1
            return method(*args, **kwargs)
        return call

    for name in methods:
        setattr(model, name, counted(name, getattr(model, name)))
    return counts


def compiled_call(model):
    """`model(inputs, initial_state=state, return_state=True)` as a
    `tf.function`.

    Keras runs recurrent loops op by op when called eagerly; tests that call
    a model many times use this graph version, traced once for any batch size
    and length (so it runs the models' dynamic-shape path). The model must be
    built: its `input_signature()` may depend on the inputs it was built for.
    """
    if not hasattr(model, "_test_compiled_call"):
        state = model.get_initial_state(1)
        state_spec = {
            name: tf.TensorSpec([None, *value.shape[1:]], value.dtype)
            for name, value in state.items()
        }
        model._test_compiled_call = tf.function(
            lambda inputs, state: model(inputs, initial_state=state,
                                        return_state=True),
            input_signature=[model.input_signature(), state_spec],
        )
    return model._test_compiled_call


def _rows(inputs, start, stop):
    return keras.tree.map_structure(lambda x: x[start:stop], inputs)


def _steps(inputs, start, stop):
    return keras.tree.map_structure(lambda x: x[:, start:stop], inputs)


def _shapes(inputs):
    return keras.tree.map_structure(lambda x: tuple(x.shape), inputs)


class TestCase:
    """Base class of a model family's tests: the shared checks as helpers.

    Each helper builds what it checks from the arguments it is given, so a
    family's test states its tiny config and inputs in one call.
    """

    def run_model_test(self, cls, init_kwargs, input_data, expected_output_shape,
                       variable_length_data, train_data, tmp_path, stateful=False):
        """Basic checks of a zoo model, as keras-hub's `run_backbone_test`.

        On one model: float32 outputs of `expected_output_shape`, which
        `compute_output_shape` answers too; each row alone gives its row of
        the batch (tensorflow issue 117700: oneDNN once miscomputed matmuls
        with a size-1 dimension); `variable_length_data`, inputs of other
        batch sizes and lengths, run; the config and JSON round trips and
        `clone_model`; `predict` on a `tf.data` dataset; a `.keras` file
        loaded in safe mode; `export` as a SavedModel whose `serve` gives the
        model's outputs on `variable_length_data`; `summary()`. Then
        `run_precision_test` with `train_data`, an `(x, y)` pair.

        Args:
            cls: the model class.
            init_kwargs: dict. A tiny config.
            input_data: what the model is first called with, a batch of 2 or
                more.
            expected_output_shape: tuple. The outputs' shape for `input_data`.
            variable_length_data: list of inputs of other batch sizes and
                lengths than `input_data`.
            train_data: `(x, y)` to fit on under mixed precision.
            tmp_path: a folder for the saved files.
            stateful: bool. The model carries state (`get_initial_state`).
        """
        model = cls(**init_kwargs)
        output = model(input_data)
        assert tuple(output.shape) == tuple(expected_output_shape)
        assert output.dtype == "float32"
        assert tuple(model.compute_output_shape(_shapes(input_data))) == tuple(
            expected_output_shape)
        for row in range(output.shape[0]):
            np.testing.assert_allclose(
                model(_rows(input_data, row, row + 1))[0], output[row], atol=1e-5,
                err_msg=f"row {row} alone")
        variable_outputs = []
        for inputs in variable_length_data:
            for x, first in zip(keras.tree.flatten(inputs),
                                keras.tree.flatten(input_data), strict=True):
                assert x.shape[0] != first.shape[0] and x.shape[1] != first.shape[1]
            variable_outputs.append(np.asarray(model(inputs)))
            assert variable_outputs[-1].shape == tuple(
                model.compute_output_shape(_shapes(inputs)))
        self.run_serialization_test(model, init_kwargs, input_data, output)
        # A 1-tuple: Keras reads a tuple of several inputs as (x, y).
        dataset = tf.data.Dataset.from_tensor_slices((input_data,)).batch(2)
        predicted = model.predict(dataset, verbose=0)
        np.testing.assert_allclose(predicted, output, atol=1e-5)
        self.run_model_saving_test(model, input_data, output, tmp_path)
        self.run_export_test(model, variable_length_data, variable_outputs,
                             tmp_path)
        lines = []
        model.summary(print_fn=lambda line, **kwargs: lines.append(line))
        assert f"Total params: {model.count_params():,}" in "".join(lines)
        self.run_precision_test(cls, init_kwargs, input_data, train_data,
                                stateful=stateful)

    def run_serialization_test(self, model, init_kwargs, input_data, output):
        """`get_config()` holds `init_kwargs` and round-trips through
        `from_config`, `to_json()` / `model_from_json` and `clone_model`;
        the model revived from JSON, given the weights, gives `output`."""
        cls = type(model)
        config = model.get_config()
        for name, value in init_kwargs.items():
            assert config[name] == value, name
        assert cls.from_config(config).get_config() == config
        revived = keras.models.model_from_json(model.to_json())
        assert type(revived) is cls and revived.get_config() == config
        clone = keras.models.clone_model(model)
        assert type(clone) is cls and clone.get_config() == config
        revived.set_weights(model.get_weights())
        np.testing.assert_allclose(revived(input_data), output, atol=1e-6)

    def run_model_saving_test(self, model, input_data, output, tmp_path):
        """A `.keras` file loads, in safe mode, as the model that gave `output`."""
        path = os.path.join(tmp_path, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
        assert type(restored) is type(model)
        np.testing.assert_allclose(restored(input_data), output, atol=1e-6)

    def run_export_test(self, model, inputs_list, outputs, tmp_path):
        """`model.export()` writes a SavedModel whose `serve` gives `outputs`
        for `inputs_list`, inputs of other batch sizes and lengths than the
        model was first called with."""
        path = os.path.join(tmp_path, "saved_model")
        model.export(path, verbose=False)
        served = tf.saved_model.load(path)
        for inputs, expected in zip(inputs_list, outputs, strict=True):
            np.testing.assert_allclose(served.serve(inputs), expected, atol=1e-5)

    def run_precision_test(self, cls, init_kwargs, input_data, train_data,
                           stateful=False):
        """Under `mixed_bfloat16` the model computes in bfloat16, gives finite
        float32 outputs (with `stateful`, also when called in two halves with
        the state carried) and `fit` gives a finite loss."""
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            model = cls(**init_kwargs)
            assert model.compute_dtype == "bfloat16"
            output = model(input_data)
            assert output.dtype == "float32"
            assert np.all(np.isfinite(output))
            if stateful:
                half = keras.tree.flatten(input_data)[0].shape[1] // 2
                state = model.get_initial_state(output.shape[0])
                first, state = model(_steps(input_data, 0, half),
                                     initial_state=state, return_state=True)
                second, _ = model(_steps(input_data, half, None),
                                  initial_state=state, return_state=True)
                joined = (np.concatenate([first, second], axis=1)
                          if output.ndim == 3 else second)
                np.testing.assert_allclose(joined, output, atol=0.1)
            model.compile()
            history = model.fit(*train_data, epochs=1, verbose=0)
            assert np.isfinite(history.history["loss"][0])
        finally:
            keras.config.set_dtype_policy("float32")

    def run_jit_compile_test(self, cls, init_kwargs, train_data, batch_size=2):
        """One epoch of `fit` on `train_data`, an `(x, y)` pair, gives the
        same model with `jit_compile=True` (XLA) as without.

        In batches whose size is not static (a last batch may be smaller):
        the training step is traced with the batch size unknown, which is
        what XLA can fail to compile in a scan's gradient.
        """
        batches = tf.data.Dataset.from_tensor_slices(train_data).batch(batch_size)
        assert tf.nest.flatten(batches.element_spec)[0].shape[0] is None
        results = []
        for jit_compile in (False, True):
            keras.utils.set_random_seed(7)
            model = cls(**init_kwargs)
            model.compile(optimizer=keras.optimizers.SGD(0.1),
                          jit_compile=jit_compile)
            assert model.jit_compile is jit_compile
            model.fit(batches, epochs=1, shuffle=False, verbose=0)
            results.append(model(train_data[0]))
        np.testing.assert_allclose(results[0], results[1], atol=1e-4)

    def run_preset_test(self, cls, init_kwargs, input_data, tmp_path):
        """A model saved with `save_to_preset()` comes back from
        `from_preset(path)` with its config, weights and outputs; with
        `load_weights=False` with its config and fresh weights; and a preset
        that is neither registered nor a directory is refused."""
        model = cls(**init_kwargs)
        model(input_data)
        # Random weights: loaded ones then cannot pass for fresh ones.
        rng = np.random.default_rng(1)
        model.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        output = np.asarray(model(input_data))
        path = str(tmp_path / "preset")
        model.save_to_preset(path)
        loaded = cls.from_preset(path)
        assert type(loaded) is cls
        assert loaded.get_config() == model.get_config()
        for weight, saved in zip(loaded.get_weights(), model.get_weights(),
                                 strict=True):
            np.testing.assert_array_equal(weight, saved)
        np.testing.assert_array_equal(loaded(input_data), output)
        fresh = cls.from_preset(path, load_weights=False)
        assert fresh.get_config() == model.get_config()
        # Built already, for the input shape it was saved with.
        assert fresh.built and fresh.count_params() == model.count_params()
        assert not all(np.array_equal(weight, saved) for weight, saved
                       in zip(fresh.get_weights(), model.get_weights(), strict=True))
        with pytest.raises(ValueError, match=r"`preset`. Expected one of \[.*\], or the path of a preset directory"):
            cls.from_preset(str(tmp_path / "clowntown"))

    def run_stateful_test(self, model, input_data, chunks, atol=1e-5):
        """memzoo's carried state, on a model that takes `initial_state=`.

        One call over `input_data` equals the same inputs fed in each of
        `chunks` (tuples of lengths summing to its length) through a
        `tf.function` traced once for any shape, the state carried: the
        outputs (joined along time when they have a time axis, else the last
        chunk's) and the final state. The state keeps its keys and shapes.
        A state for another batch size is refused eagerly (`ValueError`) and
        in the graph (`InvalidArgumentError`), and so is a state with a key
        missing, one extra, or an entry of another shape.
        """
        output, final_state = model(input_data, return_state=True)
        output = np.asarray(output)
        batch_size = output.shape[0]
        length = keras.tree.flatten(input_data)[0].shape[1]
        call = compiled_call(model)
        initial = model.get_initial_state(batch_size)
        for sizes in chunks:
            assert sum(sizes) == length, sizes
            state, pieces, start = initial, [], 0
            for size in sizes:
                piece, state = call(_steps(input_data, start, start + size), state)
                pieces.append(np.asarray(piece))
                start += size
            joined = np.concatenate(pieces, axis=1) if output.ndim == 3 else pieces[-1]
            np.testing.assert_allclose(joined, output, atol=atol,
                                       err_msg=f"chunks {sizes}")
            assert sorted(state) == sorted(initial)
            for name in initial:
                assert state[name].shape == initial[name].shape, name
                np.testing.assert_allclose(state[name], final_state[name], atol=atol,
                                           err_msg=f"chunks {sizes}, {name}")

        other = model.get_initial_state(batch_size + 1)
        with pytest.raises(ValueError, match=rf"`initial_state`. Expected a state for the batch size of `\w+`, {batch_size}, .*Received: a state for batch size {batch_size + 1}"):
            model(input_data, initial_state=other, return_state=True)
        # Traced for any batch size: the batch is checked when it runs.
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"`initial_state`.*Received: a state for batch size\] \[{batch_size + 1}\] \[and `\w+` of batch size\] \[{batch_size}\]"):
            call(input_data, other)
        name = sorted(initial)[0]
        missing = {key: value for key, value in initial.items() if key != name}
        with pytest.raises(ValueError, match=rf"Expected a dict with the keys \[.*\], as `get_initial_state\(\)` returns. Received: missing keys \['{name}'\]"):
            model(input_data, initial_state=missing)
        with pytest.raises(ValueError, match=r"Received: extra keys \['unknown'\]"):
            model(input_data, initial_state={**initial, "unknown": initial[name]})
        wrong_shape = np.zeros((batch_size, 1, 1, 1, 1))
        with pytest.raises(ValueError, match=rf"initial_state\['{name}'\] of shape \[batch, .*Received: shape=\({batch_size}, 1, 1, 1, 1\)"):
            model(input_data, initial_state={**initial, name: wrong_shape})


class LanguageModelTests(TestCase):
    """The tests every language model's test class inherits: `TestCase`'s
    model, preset and XLA checks on token ids, `generate()`, refused token
    ids, and training on real text.

    A language model's test class derives from this, sets `model_class`
    and tiny `init_kwargs`, and adds its carried-state checks with
    `run_stateful_test`.
    """

    model_class = None
    init_kwargs = None
    batch_size = 2
    sequence_length = 8

    def make_model(self, **overrides):
        return self.model_class(**{**self.init_kwargs, **overrides})

    def token_ids(self, batch_size=None, length=None, seed=0):
        rng = np.random.default_rng(seed)
        shape = (batch_size or self.batch_size, length or self.sequence_length)
        return rng.integers(0, self.init_kwargs["vocab_size"], shape, np.int32)

    def test_model_basics(self, tmp_path):
        ids = self.token_ids(length=12)
        self.run_model_test(
            cls=self.model_class, init_kwargs=self.init_kwargs,
            input_data=self.token_ids(batch_size=3),
            expected_output_shape=(3, 8, self.init_kwargs["vocab_size"]),
            variable_length_data=[self.token_ids(1, 1), self.token_ids(4, 13)],
            train_data=(ids, ids), tmp_path=tmp_path, stateful=True,
        )

    def test_preset_directory(self, tmp_path):
        self.run_preset_test(self.model_class, self.init_kwargs, self.token_ids(),
                             tmp_path)

    def test_jit_compiled_training_matches_eager(self):
        self.run_jit_compile_test(self.model_class, self.init_kwargs, (
            self.token_ids(4, 12), self.token_ids(4, 12, seed=1)))

    @pytest.mark.slow
    @pytest.mark.training_outcome
    def test_fit_lowers_loss_on_real_text(self, seed, record_property):
        dataset = memzoo.data.language_model_dataset(
            tf.data.Dataset.from_tensors(real_text(40_000)), sequence_length=32,
            batch_size=16, seed=seed,
        ).cache()
        keras.utils.set_random_seed(seed)
        model = self.make_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        traced = count_traces(model, "train_step", "test_step")
        before = model.evaluate(dataset.take(4), verbose=0, return_dict=True)
        model.fit(dataset.repeat(), steps_per_epoch=60, epochs=1, verbose=0)
        after = model.evaluate(dataset.take(4), verbose=0, return_dict=True)
        record_property("loss_drop", float(before["loss"] - after["loss"]))
        # Untrained, the loss is about log(259) = 5.6 nats per byte.
        assert after["loss"] < before["loss"] - 1.5
        # The variables were made before the first step: a step that makes
        # them is traced twice.
        assert traced == {"train_step": 1, "test_step": 1}

    def test_generate_greedy_is_the_models_argmax(self):
        model = self.make_model()
        prompt = self.token_ids(length=5)
        generated = model.generate(prompt, max_new_tokens=6, sampler="greedy")
        assert generated.shape == (self.batch_size, 11)
        np.testing.assert_array_equal(generated[:, :5], prompt)
        ids = prompt
        for _ in range(6):
            next_ids = np.argmax(model(ids)[:, -1, :], axis=-1)
            ids = np.concatenate([ids, next_ids[:, None].astype(np.int32)], axis=1)
        np.testing.assert_array_equal(generated, ids)

    def test_generate_prompts_of_different_lengths(self):
        model = self.make_model()
        prompts = [[5, 6, 7, 8, 9], [10], [11, 12, 13]]
        together = model.generate(prompts, max_new_tokens=4, sampler="greedy")
        for prompt, output in zip(prompts, together):
            alone = model.generate(np.array(prompt), max_new_tokens=4)
            np.testing.assert_array_equal(output, alone)
            assert len(output) == len(prompt) + 4
        # One prompt reader and one decode loop, each traced once for every
        # batch and prompt length.
        (functions,) = model.__dict__["_memzoo_decode_functions"].values()
        assert [f.experimental_get_tracing_count() for f in functions] == [1, 1]

    def test_generate_is_reproducible_with_a_seed(self):
        model = self.make_model()
        prompt = self.token_ids(length=3)
        first = model.generate(prompt, max_new_tokens=20, sampler="random", seed=3)
        again = model.generate(prompt, max_new_tokens=20, sampler="random", seed=3)
        other = model.generate(prompt, max_new_tokens=20, sampler="random", seed=4)
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)

    def test_generate_with_xla_matches_without(self):
        model = self.make_model()
        prompt = self.token_ids(length=4)
        eager = model.generate(prompt, 5, jit_compile=False)
        compiled = model.generate(prompt, 5, jit_compile=True)
        np.testing.assert_array_equal(eager, compiled)

    def test_token_ids_outside_the_vocabulary_are_refused(self):
        model = self.make_model()
        vocab_size = self.init_kwargs["vocab_size"]
        with pytest.raises(ValueError, match=rf"`token_ids`. Expected ids in \[0, {vocab_size}\). Received: ids from 3 to {vocab_size}"):
            model(np.array([[3, vocab_size]]))
        with pytest.raises(ValueError, match="`token_ids`.*from -1"):
            model(np.array([[-1, 3]]))
        with pytest.raises(ValueError, match="`token_ids`. Expected integer"):
            model(np.array([[1.5, 3.0]]))
        graph_call = tf.function(model)
        with pytest.raises(tf.errors.InvalidArgumentError, match="token_ids"):
            graph_call(tf.constant([[3, vocab_size]]))

    def test_generate_bad_prompts(self):
        model = self.make_model()
        vocab_size = self.init_kwargs["vocab_size"]
        with pytest.raises(ValueError, match="`prompt`.*Received: ids from"):
            model.generate([[1, vocab_size]], max_new_tokens=2)
        with pytest.raises(ValueError, match="`prompt`.*non-empty"):
            model.generate([[1, 2], []], max_new_tokens=2)
        with pytest.raises(ValueError, match="`max_new_tokens`.*Received: max_new_tokens=-1"):
            model.generate([[1, 2]], max_new_tokens=-1)
        with pytest.raises(ValueError, match="`sampler`.*Received: sampler='best'"):
            model.generate([[1, 2]], max_new_tokens=1, sampler="best")
