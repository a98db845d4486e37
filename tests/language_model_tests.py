"""The checks every memzoo language model must pass, in keras-hub's manner.

A model's test module subclasses `LanguageModelTests`, setting `model_class`
and tiny `init_kwargs`; pytest then runs each check below for that model.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo
from tests.model_tests import assert_bad_states_are_refused


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
    """`model(ids, initial_state=state, return_state=True)` as a `tf.function`.

    Keras runs recurrent loops op by op when called eagerly; tests that call
    a model many times use this graph version, traced once for any batch size
    and length (so it runs the models' dynamic-shape path).
    """
    if not hasattr(model, "_test_compiled_call"):
        state = model.get_initial_state(1)
        state_spec = {
            name: tf.TensorSpec([None, *value.shape[1:]], value.dtype)
            for name, value in state.items()
        }
        model._test_compiled_call = tf.function(
            lambda ids, state: model(ids, initial_state=state, return_state=True),
            input_signature=[tf.TensorSpec([None, None], tf.int32), state_spec],
        )
    return model._test_compiled_call


class LanguageModelTests:
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

    def test_output_shape_and_dtype(self):
        model = self.make_model()
        logits = model(self.token_ids())
        assert tuple(logits.shape) == (
            self.batch_size, self.sequence_length, self.init_kwargs["vocab_size"]
        )
        assert logits.dtype == "float32"
        assert tuple(model.compute_output_shape((2, 8))) == tuple(logits.shape)

    def test_config_round_trip(self):
        model = self.make_model()
        config = model.get_config()
        for name, value in self.init_kwargs.items():
            assert config[name] == value
        restored = self.model_class.from_config(config)
        assert restored.get_config() == config
        ids = self.token_ids()
        restored.build(ids.shape)
        model.build(ids.shape)
        restored.set_weights(model.get_weights())
        np.testing.assert_allclose(restored(ids), model(ids), atol=1e-6)

    @pytest.mark.parametrize("length", [1, 5, 13])
    def test_variable_sequence_length(self, length):
        model = self.make_model()
        logits = model(self.token_ids(length=length))
        assert logits.shape[1] == length

    def test_batch_size_one(self):
        # oneDNN miscomputes some rank-4 matmuls with a size-1 dimension
        # (tensorflow issue 117700); batch size 1 must still be exact.
        model = self.make_model()
        ids = self.token_ids(batch_size=3, length=6)
        together = model(ids)
        for row in range(3):
            alone = model(ids[row : row + 1])
            np.testing.assert_allclose(alone[0], together[row], atol=1e-5)

    @pytest.mark.parametrize("chunks", [(1, 3, 7, 13), (12, 12), (24,), (1,) * 24])
    def test_chunks_with_state_equal_one_call(self, chunks):
        model = self.make_model()
        ids = self.token_ids(length=sum(chunks))
        whole = model(ids)
        call = compiled_call(model)
        state = model.get_initial_state(self.batch_size)
        pieces, start = [], 0
        for size in chunks:
            logits, state = call(ids[:, start : start + size], state)
            pieces.append(logits)
            start += size
        np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5)

    def test_state_has_fixed_shapes(self):
        model = self.make_model()
        state = model.get_initial_state(self.batch_size)
        _, after_short = model(self.token_ids(length=2), state, return_state=True)
        _, after_long = model(self.token_ids(length=20), state, return_state=True)
        assert sorted(after_short) == sorted(state) == sorted(after_long)
        for name in state:
            assert after_short[name].shape == state[name].shape
            assert after_long[name].shape == state[name].shape

    def test_a_state_of_another_batch_or_keys_is_refused(self):
        model = self.make_model()
        assert_bad_states_are_refused(
            model, self.token_ids(batch_size=3, length=2), model.get_initial_state(2),
            # Traced for any batch size: the batch is checked when it runs.
            compiled_call(model),
        )

    def test_saving_keras_file(self, tmp_path):
        model = self.make_model()
        ids = self.token_ids()
        expected = model(ids)
        path = os.path.join(tmp_path, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        assert isinstance(restored, self.model_class)
        np.testing.assert_allclose(restored(ids), expected, atol=1e-6)

    def test_predict_on_tf_data(self):
        model = self.make_model()
        ids = self.token_ids(batch_size=6)
        dataset = tf.data.Dataset.from_tensor_slices(ids).batch(4)
        predicted = model.predict(dataset, verbose=0)
        np.testing.assert_allclose(predicted, model(ids), atol=1e-5)

    def test_mixed_bfloat16(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        model = self.make_model()
        assert model.compute_dtype == "bfloat16"
        ids = self.token_ids(length=12)
        logits = model(ids)
        assert logits.dtype == "float32"
        assert np.all(np.isfinite(logits))
        state = model.get_initial_state(self.batch_size)
        first, state = model(ids[:, :5], initial_state=state, return_state=True)
        second, _ = model(ids[:, 5:], initial_state=state, return_state=True)
        np.testing.assert_allclose(
            np.concatenate([first, second], axis=1), logits, atol=0.1
        )
        model.compile()
        history = model.fit(ids, ids, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])

    def test_jit_compiled_training_matches_eager(self):
        # Batches whose size is not static (a last batch may be smaller):
        # the training step is traced with the batch size unknown, which is
        # what XLA can fail to compile in a scan's gradient. Compiled once,
        # for batches of 2.
        ids = self.token_ids(batch_size=4, length=12)
        targets = self.token_ids(batch_size=4, length=12, seed=1)
        batches = tf.data.Dataset.from_tensor_slices((ids, targets)).batch(2)
        assert batches.element_spec[0].shape[0] is None
        results = []
        for jit_compile in (False, True):
            keras.utils.set_random_seed(7)
            model = self.make_model()
            model.compile(optimizer=keras.optimizers.SGD(0.1),
                          jit_compile=jit_compile)
            assert model.jit_compile is jit_compile
            model.fit(batches, epochs=1, verbose=0)
            results.append(model(ids))
        np.testing.assert_allclose(results[0], results[1], atol=1e-4)

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
        # One decode loop, traced once for every batch and prompt length.
        decoders = model.__dict__["_memzoo_decode_functions"].values()
        assert [f.experimental_get_tracing_count() for f in decoders] == [1]

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
