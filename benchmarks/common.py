"""What the benchmarks share: the matmul ceiling of this machine, training
FLOPs per token, timed training steps, and the Keras and keras-hub peers of
memzoo's language models.

Imported by the scripts of this folder (`from common import ...`), which
Python finds because a script's own folder is on its path.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from memzoo.layers import MemorySlots  # noqa: E402


def matmul_ceiling(seconds=3, sizes=(1024, 2048), matmuls_per_call=4):
    """GFLOP/s of float32 `tf.matmul` on this machine: "the ceiling".

    For each size, a `tf.function` chains `matmuls_per_call` products of two
    square matrices; after a warm-up call it is called again and again for
    an even share of `seconds`, and the fastest call counts (noise on a
    shared machine only ever slows a call down). The best size wins.
    """
    best = 0.0
    for size in sizes:
        rng = np.random.default_rng(0)
        a = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
        # Scaled so the chained products stay of order one (no overflow).
        b = tf.constant(
            rng.standard_normal((size, size), dtype=np.float32) / size**0.5
        )

        @tf.function
        def chain(a, b):
            for _ in range(matmuls_per_call):
                a = tf.matmul(a, b)
            return tf.reduce_sum(a)

        chain(a, b).numpy()  # traces
        flops = 2 * size**3 * matmuls_per_call
        deadline = time.perf_counter() + seconds / len(sizes)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            chain(a, b).numpy()
            best = max(best, flops / (time.perf_counter() - started))
    return best / 1e9


# The parts of memzoo's `MemorySlots` that read the tokens; the others act
# on the slots, once a segment.
SLOT_TOKEN_PARTS = ("write_key", "write_value", "read_query", "read_output")


def parameters_per_token(model):
    """Trainable parameters a token is multiplied by, in a training step.

    All but the tables of embedding layers, which a token only looks up
    (Keras's `Embedding`, keras-hub's position embeddings, and the reverse
    table keras-hub's untied `ReversibleEmbedding` holds unused under a
    separate head). The weights of memzoo's `MemorySlots` that act on the
    slots rather than on the tokens (the slots' projections and LSTM gates)
    count `num_slots / segment_length` of theirs: a segment of
    `segment_length` tokens uses them once per slot.
    """
    share = {}
    for layer in model._flatten_layers():
        if "Embedding" in type(layer).__name__:
            share.update((id(weight), 0) for weight in layer.weights)
        elif isinstance(layer, MemorySlots):
            token_parts = {id(weight) for name in SLOT_TOKEN_PARTS
                           for weight in getattr(layer, name).weights}
            share.update(
                (id(weight), layer.num_slots / layer.segment_length)
                for weight in layer.weights if id(weight) not in token_parts
            )
    return sum(share.get(id(weight), 1) * int(np.prod(weight.shape))
               for weight in model.trainable_weights)


def window_attention_keys(context, window, slots=0):
    """Keys a token of memzoo's `WindowAttention` is scored against: its
    block of `min(window, context)` queries sees `window - 1` more keys than
    it has, so that many, plus `2 * slots` for the memory slots (a token
    reads every slot, and every slot's write attends over the token)."""
    return min(window, context) + window - 1 + 2 * slots


def training_flops_per_token(parameters, num_layers, attended_keys, width):
    """Training FLOPs per token, the usual count:
    `6 * parameters + 12 * num_layers * attended_keys * width`.

    Forward and backward take 2 + 4 FLOPs per parameter a token multiplies
    by (`parameters_per_token()`: every weight matrix, the output head and
    LSTMs included, the embedding lookup not); attention adds, per layer,
    the scores and the weighted sum of the values (2 x 2 x keys x width
    forward, twice that backward). `attended_keys` is what the
    implementation computes, not what the mask keeps: a whole T x T matrix
    is T keys a token (keras-hub's GPT2 and Mistral, Keras's
    `MultiHeadAttention` even with `sliding_window`), memzoo's blocked
    window `window_attention_keys()`. Norms, softmax and activations are
    not counted.
    """
    return 6 * parameters + 12 * num_layers * attended_keys * width


def training_step_seconds(model, batch, steps, warmup_steps=1, min_seconds=0):
    """`(warm-up seconds, seconds per step)` of `model.train_on_batch` on
    `batch`, a tuple `(x, y)` or `(x, y, sample_weight)`: `warmup_steps`
    untimed calls (the first traces and compiles), then timed ones, at least
    `steps` and for at least `min_seconds`. `model` is compiled."""
    started = time.perf_counter()
    for _ in range(warmup_steps):
        model.train_on_batch(*batch)
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    done = 0
    while done < steps or time.perf_counter() - started < min_seconds:
        model.train_on_batch(*batch)
        done += 1
    return warmup, (time.perf_counter() - started) / done


def with_lm_head(backbone, context, vocabulary_size):
    """keras-hub backbone + Dense head, fed token ids only (no padding):
    logits `[batch, context, vocabulary_size]`."""
    token_ids = keras.Input((context,), dtype="int32")
    hidden = backbone(
        {"token_ids": token_ids, "padding_mask": ops.ones_like(token_ids)}
    )
    return keras.Model(token_ids, keras.layers.Dense(vocabulary_size)(hidden))


def gpt2(vocabulary_size, hidden_dim, num_layers, num_heads, context,
         max_sequence_length=None):
    """keras-hub's `GPT2Backbone` (full causal attention) with a Dense head,
    reading `context` tokens; its position table holds `max_sequence_length`
    (`None`: `context`). Needs the `bench` extra (keras-hub)."""
    import keras_hub

    return with_lm_head(
        keras_hub.models.GPT2Backbone(
            vocabulary_size=vocabulary_size, num_layers=num_layers,
            num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=4 * hidden_dim,
            max_sequence_length=max_sequence_length or context,
        ),
        context,
        vocabulary_size,
    )


class RangeMaskMultiHeadAttention(keras.layers.MultiHeadAttention):
    """Keras's `MultiHeadAttention`, its causal mask made by comparing two
    ranges of positions, as its sliding-window mask is.

    Its own causal mask is a cumulative sum of ones, which XLA folds into a
    constant at compile time in its slow evaluator ("Constant folding an
    instruction is taking > 1s"): at a context of 4,096 the compile had not
    ended after 10 minutes on 2 cores. The mask's values are the same.
    """

    def _compute_causal_mask(self, query, value=None):
        rows = ops.arange(ops.shape(query)[1])
        columns = rows if value is None else ops.arange(ops.shape(value)[1])
        return ops.expand_dims(rows[:, None] >= columns[None, :], 0)


def sliding_window_transformer(vocabulary_size, hidden_dim, num_layers,
                               num_heads, sliding_window, context):
    """Pre-norm blocks of Keras's `MultiHeadAttention(sliding_window=...)`
    under a causal mask, on token and learned position embeddings, reading
    `context` tokens. Needs the `bench` extra (keras-hub)."""
    import keras_hub

    token_ids = keras.Input((context,), dtype="int32")
    x = keras.layers.Embedding(vocabulary_size, hidden_dim)(token_ids)
    x = x + keras_hub.layers.PositionEmbedding(context)(x)
    for _ in range(num_layers):
        normed = keras.layers.LayerNormalization()(x)
        x = x + RangeMaskMultiHeadAttention(
            num_heads, hidden_dim // num_heads, sliding_window=sliding_window
        )(normed, normed, use_causal_mask=True)
        normed = keras.layers.LayerNormalization()(x)
        x = x + keras.layers.Dense(hidden_dim)(
            keras.layers.Dense(4 * hidden_dim, activation="gelu")(normed)
        )
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(token_ids, keras.layers.Dense(vocabulary_size)(x))
