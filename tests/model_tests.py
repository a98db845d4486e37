"""The checks every memzoo model that is not a language model must pass.

keras-hub's `run_model_saving_test` and friends, as a class: a model's test
module subclasses `ModelTests` (`StatefulModelTests` for a model that
carries state across calls), setting `model_class`, tiny `init_kwargs`,
and `make_inputs` / `make_targets` (numpy arrays, or a tuple of them for a
model with several inputs); pytest then runs each check below for it.
Language models have their own, longer list in `language_model_tests.py`.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf


class ModelTests:
    model_class = None
    init_kwargs = None
    batch_size = 3
    # The loss `fit` uses in the checks below; the model's own `compile()`
    # default when `None`.
    loss = None

    def make_inputs(self, batch_size, seed=0):
        raise NotImplementedError

    def make_targets(self, batch_size, seed=1):
        raise NotImplementedError

    def expected_output_shape(self, batch_size):
        raise NotImplementedError

    def make_model(self, **overrides):
        return self.model_class(**{**self.init_kwargs, **overrides})

    def compile(self, model, **kwargs):
        if self.loss is not None:
            kwargs.setdefault("loss", self.loss)
        model.compile(**kwargs)

    def test_output_shape_and_dtype(self):
        model = self.make_model()
        outputs = model(self.make_inputs(self.batch_size))
        assert tuple(outputs.shape) == tuple(self.expected_output_shape(self.batch_size))
        assert outputs.dtype == "float32"

    def test_config_round_trip(self):
        model = self.make_model()
        config = model.get_config()
        for name, value in self.init_kwargs.items():
            assert config[name] == value, name
        restored = self.model_class.from_config(config)
        assert restored.get_config() == config
        inputs = self.make_inputs(self.batch_size)
        expected = model(inputs)
        restored(inputs)
        restored.set_weights(model.get_weights())
        np.testing.assert_allclose(restored(inputs), expected, atol=1e-6)

    def test_saving_keras_file(self, tmp_path):
        model = self.make_model()
        inputs = self.make_inputs(self.batch_size)
        expected = model(inputs)
        path = os.path.join(tmp_path, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        assert isinstance(restored, self.model_class)
        np.testing.assert_allclose(restored(inputs), expected, atol=1e-6)

    def test_predict_on_tf_data(self):
        model = self.make_model()
        inputs = self.make_inputs(5)
        # A 1-tuple: Keras reads a tuple of several inputs as (x, y).
        dataset = tf.data.Dataset.from_tensor_slices((inputs,)).batch(2)
        predicted = model.predict(dataset, verbose=0)
        np.testing.assert_allclose(predicted, model(inputs), atol=1e-5)

    def test_mixed_bfloat16(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        model = self.make_model()
        assert model.compute_dtype == "bfloat16"
        outputs = model(self.make_inputs(self.batch_size))
        assert outputs.dtype == "float32"
        assert np.all(np.isfinite(outputs))
        self.compile(model)
        history = model.fit(self.make_inputs(self.batch_size),
                            self.make_targets(self.batch_size), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])

    def test_jit_compiled_training_matches_eager(self):
        inputs = self.make_inputs(4)
        targets = self.make_targets(4)
        results = []
        for jit_compile in (False, True):
            keras.utils.set_random_seed(7)
            model = self.make_model()
            self.compile(model, optimizer=keras.optimizers.SGD(0.1),
                         jit_compile=jit_compile)
            assert model.jit_compile is jit_compile
            model.fit(inputs, targets, batch_size=2, epochs=1, verbose=0, shuffle=False)
            results.append(model(inputs))
        np.testing.assert_allclose(results[0], results[1], atol=1e-4)


class StatefulModelTests(ModelTests):
    """`ModelTests` and the checks of a model whose calls take `initial_state=`
    (from `get_initial_state(batch_size)`)."""

    def test_a_state_of_another_batch_or_keys_is_refused(self):
        model = self.make_model()
        inputs = self.make_inputs(3)
        model(inputs)
        state = model.get_initial_state(2)
        # Traced for any batch size: the batch is checked when it runs.
        call = tf.function(
            lambda inputs, state: model(inputs, initial_state=state),
            input_signature=[
                tf.TensorSpec([None, *inputs.shape[1:]], inputs.dtype),
                {name: tf.TensorSpec([None, *value.shape[1:]], value.dtype)
                 for name, value in state.items()},
            ],
        )
        assert_bad_states_are_refused(model, inputs, state, call)


def assert_bad_states_are_refused(model, inputs, state, call):
    """`model` refuses `state`, made for batch 2, with `inputs` of batch 3,
    eagerly and through `call` (a `tf.function` of inputs and state traced
    for any batch size), and a state with a key missing, one extra, or an
    entry of another shape."""
    with pytest.raises(ValueError, match=r"`initial_state`. Expected a state for the batch size of `\w+`, 3, .*Received: a state for batch size 2"):
        model(inputs, initial_state=state, return_state=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`initial_state`.*Received: a state for batch size\] \[2\] \[and `\w+` of batch size\] \[3\]"):
        call(inputs, state)
    name = sorted(state)[0]
    missing = {key: value for key, value in state.items() if key != name}
    with pytest.raises(ValueError, match=rf"Expected a dict with the keys \[.*\], as `get_initial_state\(\)` returns. Received: missing keys \['{name}'\]"):
        model(inputs[:2], initial_state=missing)
    with pytest.raises(ValueError, match=r"Received: extra keys \['unknown'\]"):
        model(inputs[:2], initial_state={**state, "unknown": state[name]})
    with pytest.raises(ValueError, match=rf"initial_state\['{name}'\] of shape \[batch, .*Received: shape=\(2, 1, 1, 1, 1\)"):
        model(inputs[:2], initial_state={**state, name: np.zeros((2, 1, 1, 1, 1))})
