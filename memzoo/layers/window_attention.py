import keras
from keras import ops

from memzoo.layers.rotary_embedding import apply_rotary_embedding
from memzoo.layers.softmax import stable_softmax
from memzoo.validation import check_integer

_MASKED = -1e9


@keras.saving.register_keras_serializable(package="memzoo")
class WindowAttention(keras.layers.Layer):
    """Causal sliding-window multi-head attention with a carried key/value cache.

    Each position attends to itself and the `window - 1` positions before it,
    also across calls: the keys and values of the last `window - 1` positions
    are part of the state. The attention is blocked, so time and memory per
    token are O(window) whatever the length: queries are cut into blocks of
    `Q = min(window, length)` positions, and each block attends to the
    `Q + window - 1` keys that can be in its windows, under a band mask. No
    length x length score matrix is ever made (Keras's `MultiHeadAttention`
    would need one, hence this layer). Positions are rotary and relative to
    each block, so a window means the same anywhere in an unbounded stream.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Size of each head (even, for the rotary embedding).
        window: int. How many positions a position sees, itself included.

    Call arguments:
        inputs: `[batch, time, features]`.
        cache: dict with `keys` and `values`, `[batch, window - 1, heads,
            key_dim]`: the projections of the positions before `inputs`.
        cache_fill: int `[batch]`. How many cache positions hold real tokens
            (fewer than `window - 1` at the start of a stream).
        return_attention_scores: bool. Also return the attention weights,
            as `keras.layers.MultiHeadAttention` does.

    Returns:
        `(outputs [batch, time, features], new_cache)`, and with
        `return_attention_scores` the weights `[batch, heads, time, window]`
        after them: `[..., t, j]` is what position `t` gives the token `j`
        back (`j = 0` is itself). They sum to 1 over `j`, and are 0 for
        tokens before the start of the stream.

    Example:

    ```python
    layer = memzoo.layers.WindowAttention(num_heads=2, key_dim=4, window=3)
    x = np.random.normal(size=(1, 10, 8)).astype("float32")
    outputs, cache = layer(x, layer.get_initial_state(1), np.zeros(1, "int32"))
    ```
    """

    def __init__(self, num_heads, key_dim, window, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_integer("num_heads", num_heads)
        self.key_dim = check_integer("key_dim", key_dim)
        if self.key_dim % 2:
            raise ValueError(
                "Invalid value for argument `key_dim`. Expected an even size "
                f"(rotary positions turn pairs). Received: key_dim={key_dim}"
            )
        self.window = check_integer("window", window)

    def build(self, input_shape):
        features = input_shape[-1]
        projection_shape = (None, self.num_heads, self.key_dim)
        self.query_dense = keras.layers.EinsumDense(
            "btd,dhk->bthk", projection_shape, dtype=self.dtype_policy,
            name="query",
        )
        self.key_dense = keras.layers.EinsumDense(
            "btd,dhk->bthk", projection_shape, dtype=self.dtype_policy,
            name="key",
        )
        self.value_dense = keras.layers.EinsumDense(
            "btd,dhk->bthk", projection_shape, dtype=self.dtype_policy,
            name="value",
        )
        self.output_dense = keras.layers.EinsumDense(
            "bthk,hkd->btd", (None, features), dtype=self.dtype_policy,
            name="attention_output",
        )
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(input_shape)
        self.output_dense.build(
            (*input_shape[:-1], self.num_heads, self.key_dim)
        )
        self.built = True

    def get_initial_state(self, batch_size):
        shape = (batch_size, self.window - 1, self.num_heads, self.key_dim)
        zeros = ops.zeros(shape, self.compute_dtype)
        return {"keys": zeros, "values": zeros}

    def call(self, inputs, cache, cache_fill, return_attention_scores=False):
        length = inputs.shape[1]
        context = self.window - 1
        # Static block size when the length is static (always under XLA): one
        # token at a time then costs O(window), not O(window ** 2).
        block = self.window if length is None else min(self.window, length)
        if length is None:
            length = ops.shape(inputs)[1]
        num_blocks = (length + block - 1) // block

        keys = ops.concatenate([cache["keys"], self.key_dense(inputs)], axis=1)
        values = ops.concatenate(
            [cache["values"], self.value_dense(inputs)], axis=1
        )
        new_cache = {"keys": keys[:, length:], "values": values[:, length:]}

        # Queries [batch, blocks, block, heads, key_dim], zero-padded at the end.
        queries = self.query_dense(inputs)
        padding = num_blocks * block - length
        queries = ops.pad(queries, [[0, 0], [0, padding], [0, 0], [0, 0]])
        queries = ops.reshape(
            queries, (-1, num_blocks, block, self.num_heads, self.key_dim)
        )
        # Keys and values of each block's windows: [batch, blocks, span, ...].
        span = block + context
        key_index = (
            ops.arange(num_blocks)[:, None] * block + ops.arange(span)[None, :]
        )
        keys = self._block_windows(keys, num_blocks, block, padding)
        values = self._block_windows(values, num_blocks, block, padding)

        # Positions relative to each block's first key: query r sits at
        # `context + r`, key u at `u`.
        queries = apply_rotary_embedding(
            queries, ops.arange(block) + context
        )
        keys = apply_rotary_embedding(keys, ops.arange(span))
        scores = ops.einsum("bnqhk,bnshk->bnhqs", queries, keys)
        scores = ops.cast(scores, "float32") / (self.key_dim**0.5)

        # Query r sees keys u with 0 <= u - r <= context (its window), and
        # only keys that hold real tokens (the cache fills up at the start).
        offset = ops.arange(span)[None, :] - ops.arange(block)[:, None]
        in_window = (offset >= 0) & (offset <= context)
        filled = key_index[None, :, :] >= (
            context - ops.cast(cache_fill, "int32")[:, None, None]
        )
        mask = in_window[None, None, None, :, :] & filled[:, :, None, None, :]
        scores = ops.where(mask, scores, _MASKED)
        weights = ops.cast(stable_softmax(scores), self.compute_dtype)
        outputs = ops.einsum("bnhqs,bnshk->bnqhk", weights, values)
        outputs = ops.reshape(
            outputs, (-1, num_blocks * block, self.num_heads, self.key_dim)
        )
        outputs = self.output_dense(outputs[:, :length])
        if not return_attention_scores:
            return outputs, new_cache
        # Query r sees the token j back at key u = r + context - j.
        back = ops.arange(block)[:, None] + context - ops.arange(self.window)
        weights = ops.take_along_axis(
            weights, ops.reshape(back, (1, 1, 1, block, self.window)), axis=-1
        )
        weights = ops.reshape(
            ops.moveaxis(weights, 2, 1),
            (-1, self.num_heads, num_blocks * block, self.window),
        )
        return outputs, new_cache, weights[:, :, :length]

    def _block_windows(self, sequence, num_blocks, block, padding):
        """`[batch, context + length, ...]` -> `[batch, blocks, span, ...]`.

        Block b's window spans positions `b * block` to `b * block + span`.
        Slices and a concatenation, not a gather: a gather's gradient is a
        scatter, which is slow on CPU.
        """
        context = self.window - 1
        if block == self.window and context:
            # Two consecutive blocks hold every window (context < block).
            sequence = ops.pad(
                sequence, [[0, 0], [0, padding + 1], [0, 0], [0, 0]]
            )
            blocks = ops.reshape(
                sequence,
                (-1, num_blocks + 1, block, self.num_heads, self.key_dim),
            )
            return ops.concatenate(
                [blocks[:, :-1], blocks[:, 1:, :context]], axis=2
            )
        if block == self.window:
            # A window of one: each block is its own window.
            sequence = ops.pad(sequence, [[0, 0], [0, padding], [0, 0], [0, 0]])
            return ops.reshape(
                sequence, (-1, num_blocks, block, self.num_heads, self.key_dim)
            )
        # A chunk shorter than the window (static length): one block.
        return ops.expand_dims(sequence, 1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "window": self.window,
            }
        )
        return config
