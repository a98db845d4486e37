import numpy as np
import pytest
import tensorflow as tf

from memzoo import generation

SEED = tf.constant([1, 2], tf.int32)


def logits_batch(seed=0, batch_size=64, vocab_size=50):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(size=(batch_size, vocab_size)) * 2, tf.float32)


def draws(sampler, logits, num_seeds=20):
    return np.stack([
        sampler(logits, tf.constant([seed, 0], tf.int32)).numpy()
        for seed in range(num_seeds)
    ])


def test_greedy_picks_the_argmax():
    logits = logits_batch()
    picked = generation.GreedySampler()(logits, SEED)
    np.testing.assert_array_equal(picked, np.argmax(logits, axis=-1))


def test_random_sampler_follows_the_distribution():
    probabilities = np.array([0.7, 0.2, 0.1])
    logits = tf.constant(np.log(np.tile(probabilities, (1000, 1))), tf.float32)
    picked = draws(generation.RandomSampler(), logits, num_seeds=5).ravel()
    frequencies = np.bincount(picked, minlength=3) / picked.size
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)


def test_low_temperature_tends_to_greedy_and_high_to_uniform():
    logits = logits_batch()
    cold = draws(generation.RandomSampler(temperature=1e-3), logits)
    np.testing.assert_array_equal(cold, np.tile(np.argmax(logits, -1), (20, 1)))
    hot = draws(generation.RandomSampler(temperature=1e3), logits)
    assert len(np.unique(hot)) > 40


def test_top_k_only_picks_among_the_k_best():
    logits = logits_batch()
    top3 = np.argsort(-logits.numpy(), axis=-1)[:, :3]
    picked = draws(generation.TopKSampler(k=3), logits)
    for row in range(logits.shape[0]):
        assert set(picked[:, row]) <= set(top3[row])
    # Sampling really happens among the three.
    assert len(np.unique(picked[:, 0])) > 1


def test_top_p_keeps_the_smallest_nucleus():
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]] * 200, tf.float32))
    picked = draws(generation.TopPSampler(p=0.75), logits, num_seeds=5)
    assert set(np.unique(picked)) == {0, 1}
    only_best = draws(generation.TopPSampler(p=0.1), logits, num_seeds=5)
    assert set(np.unique(only_best)) == {0}


def test_samplers_are_reproducible_with_a_seed():
    logits = logits_batch()
    for sampler in (generation.RandomSampler(), generation.TopKSampler(5),
                    generation.TopPSampler(0.9)):
        np.testing.assert_array_equal(sampler(logits, SEED), sampler(logits, SEED))


@pytest.mark.parametrize("name, cls", sorted(generation.SAMPLERS.items()))
def test_get_sampler_by_name(name, cls):
    assert type(generation.get_sampler(name)) is cls


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: generation.RandomSampler(temperature=0), "temperature"),
        (lambda: generation.TopKSampler(k=0), "k"),
        (lambda: generation.TopKSampler(k=2.5), "k"),
        (lambda: generation.TopPSampler(p=1.5), "p"),
        (lambda: generation.TopPSampler(p=0), "p"),
        (lambda: generation.get_sampler("best"), "sampler"),
    ],
)
def test_bad_sampler_arguments(make, argument):
    with pytest.raises(ValueError, match=f"argument `{argument}`.*Received: {argument}="):
        make()


class CountingModel:
    """A toy language model whose next token is always (last token + 1)."""

    vocab_size = 10

    def __init__(self):
        self.call_lengths = []

    def get_initial_state(self, batch_size):
        return {"steps": tf.zeros([batch_size], tf.int32)}

    def __call__(self, token_ids, initial_state, return_state, training):
        self.call_lengths.append(token_ids.shape[1])
        if initial_state is None:
            initial_state = self.get_initial_state(tf.shape(token_ids)[0])
        logits = tf.one_hot((token_ids + 1) % self.vocab_size, self.vocab_size)
        steps = initial_state["steps"] + tf.shape(token_ids)[1]
        return logits, {"steps": steps}


def test_decode_loop_feeds_one_token_at_a_time_after_the_prompt():
    model = CountingModel()
    outputs = generation.generate_ids(model, [[1, 2, 3], [7]], max_new_tokens=4)
    np.testing.assert_array_equal(outputs[0], [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(outputs[1], [7, 8, 9, 0, 1])
    # Traced once: the common prefix, of any length, in one call, then one
    # token per step inside the compiled loop, whatever the length of the text.
    assert model.call_lengths == [None, 1]
    generation.generate_ids(model, [[1, 2]], max_new_tokens=2)
    assert model.call_lengths == [None, 1]


def test_zero_new_tokens_returns_the_prompts():
    outputs = generation.generate_ids(CountingModel(), [[1, 2]], max_new_tokens=0)
    np.testing.assert_array_equal(outputs[0], [1, 2])


class BigramModel:
    """A toy language model with fixed random next-token logits per token."""

    vocab_size = 10

    def __init__(self):
        rng = np.random.default_rng(0)
        self.table = tf.constant(rng.normal(size=(10, 10)), tf.float32)

    def get_initial_state(self, batch_size):
        return {}

    def __call__(self, token_ids, initial_state, return_state, training):
        return tf.gather(self.table, token_ids), {}


@pytest.mark.parametrize("jit_compile", [False, True])
def test_decode_is_reproducible_with_a_seed_with_and_without_xla(jit_compile):
    model = BigramModel()

    def run(seed):
        return generation.generate_ids(model, [[1, 2], [3]], 30, "top_k", seed,
                                       jit_compile=jit_compile)

    first, again, other = run(5), run(5), run(6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
