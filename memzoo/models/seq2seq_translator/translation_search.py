"""Greedy and beam search for `Seq2SeqTranslator`, as compiled loops.

Keras has no decoding loops; keras-hub's samplers (not a dependency)
continue a causal LM from its cache, not LSTM states over an encoding. Both
searches fill fixed-shape buffers in a `tf.while_loop`, so XLA compiles
them, and stop once every translation has ended. `model` is a
`Seq2SeqTranslator`: they call its `decode_step`.
"""

import numpy as np
import tensorflow as tf
from keras import ops

from memzoo.data import ByteTokenizer

# The id conventions of `translation_dataset` with a `ByteTokenizer`, kept for
# token ids from any tokenizer.
PADDING_ID = ByteTokenizer.padding_id
START_ID = ByteTokenizer.start_id
END_ID = ByteTokenizer.end_id


def next_log_probabilities(model, token, states, encoded):
    """One decoder step: log-probabilities `[batch, vocab]` and states.

    Also returns them with padding and start made impossible, the scores
    a search chooses by: the model is never taught to emit them.
    """
    logits, states = model.decode_step(
        token[:, None], states, encoded, training=False
    )
    log_probabilities = tf.nn.log_softmax(logits[:, 0])
    ids = tf.range(model.target_vocab_size)
    never = (ids == PADDING_ID) | (ids == START_ID)
    choosable = tf.where(never, -np.inf, log_probabilities)
    return log_probabilities, choosable, states


def greedy_search(model, encoded, states, max_length):
    """The most likely token at each step, until the end id or `max_length`.

    Returns:
        `(target ids [batch, max_length] padded with 0, float32 scores
        [batch])`. A score sums the log-probabilities of the tokens and of
        the end token, if there is one: a translation cut at `max_length`
        has none. It is `model.log_probability(..., max_length)` of the ids.
    """
    batch_size = ops.shape(encoded["mask"])[0]
    positions = tf.range(max_length)

    def step(index, token, states, target_ids, log_probability, finished):
        log_probabilities, choosable, states = next_log_probabilities(
            model, token, states, encoded
        )
        token = tf.argmax(choosable, axis=-1, output_type=tf.int32)
        step_log_probability = tf.gather(log_probabilities, token, batch_dims=1)
        log_probability += tf.where(finished, 0.0, step_log_probability)
        token = tf.where(finished, PADDING_ID, token)
        target_ids = tf.where(
            positions[tf.newaxis, :] == index, token[:, tf.newaxis], target_ids
        )
        finished |= token == END_ID
        return index + 1, token, states, target_ids, log_probability, finished

    _, _, _, target_ids, log_probability, _ = tf.while_loop(
        lambda index, token, states, target_ids, log_probability, finished: (
            (index < max_length) & ~tf.reduce_all(finished)
        ),
        step,
        (
            tf.constant(0),
            tf.fill([batch_size], START_ID),
            states,
            tf.zeros([batch_size, max_length], tf.int32),
            tf.zeros([batch_size], tf.float32),
            tf.zeros([batch_size], tf.bool),
        ),
        maximum_iterations=max_length,
    )
    return strip_end(target_ids), log_probability


def beam_search(model, encoded, states, max_length, beam_size):
    """The best of `beam_size` partial translations kept at each step.

    Returns:
        As `greedy_search`, the best beam's ids and score.
    """
    # The static batch size when there is one: with a tensor, the loop's
    # reshapes lose one source's batch dimension (1), and its states no
    # longer match the shapes they entered with.
    batch_size = ops.shape(encoded["mask"])[0]
    vocab_size = model.target_vocab_size
    positions = tf.range(max_length)
    # Each source is read once and its encoding repeated for its beams,
    # which are rows `b * beam_size + k` of the decoder's batch.
    encoded = tf.nest.map_structure(
        lambda x: tf.repeat(x, beam_size, axis=0), encoded
    )
    states = tf.nest.map_structure(
        lambda x: tf.repeat(x, beam_size, axis=0), states
    )
    # A finished beam goes on with padding at no cost, so its score stays
    # and it competes with the live beams until the end.
    finished_continuation = tf.where(
        tf.range(vocab_size) == PADDING_ID, 0.0, -np.inf
    )

    def step(index, token, states, target_ids, scores, finished):
        _, choosable, states = next_log_probabilities(
            model, token, states, encoded
        )
        choosable = tf.reshape(choosable, [batch_size, beam_size, vocab_size])
        choosable = tf.where(
            finished[:, :, tf.newaxis], finished_continuation, choosable
        )
        candidates = scores[:, :, tf.newaxis] + choosable
        scores, best = tf.math.top_k(
            tf.reshape(candidates, [batch_size, beam_size * vocab_size]),
            k=beam_size,
        )
        parent = best // vocab_size
        token = best % vocab_size
        target_ids = tf.gather(target_ids, parent, batch_dims=1)
        target_ids = tf.where(
            positions[tf.newaxis, tf.newaxis, :] == index,
            token[:, :, tf.newaxis],
            target_ids,
        )
        finished = tf.gather(finished, parent, batch_dims=1) | (token == END_ID)
        rows = tf.reshape(
            parent + beam_size * tf.range(batch_size)[:, tf.newaxis], [-1]
        )
        states = tf.nest.map_structure(lambda x: tf.gather(x, rows), states)
        return (index + 1, tf.reshape(token, [-1]), states, target_ids,
                scores, finished)

    # At first only beam 0 is alive, so the first step does not pick the
    # same token k times.
    scores = tf.tile(
        tf.concat([[0.0], tf.fill([beam_size - 1], -np.inf)], axis=0)[tf.newaxis],
        [batch_size, 1],
    )
    _, _, _, target_ids, scores, _ = tf.while_loop(
        lambda index, token, states, target_ids, scores, finished: (
            (index < max_length) & ~tf.reduce_all(finished)
        ),
        step,
        (
            tf.constant(0),
            tf.fill([batch_size * beam_size], START_ID),
            states,
            tf.zeros([batch_size, beam_size, max_length], tf.int32),
            scores,
            tf.zeros([batch_size, beam_size], tf.bool),
        ),
        maximum_iterations=max_length,
    )
    best = tf.argmax(scores, axis=1, output_type=tf.int32)
    target_ids = tf.gather(target_ids, best, batch_dims=1)
    return strip_end(target_ids), tf.gather(scores, best, batch_dims=1)


def strip_end(target_ids):
    """End ids become padding: a translation is its tokens before the end."""
    return tf.where(target_ids == END_ID, PADDING_ID, target_ids)
