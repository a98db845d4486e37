import keras
from keras import ops

from memzoo.layers.associative_slots import AssociativeSlots
from memzoo.layers.dropout import Dropout
from memzoo.layers.memory_slots import MemorySlots
from memzoo.layers.window_attention import WindowAttention
from memzoo.validation import check_integer
from memzoo.validation import check_rate


@keras.saving.register_keras_serializable(package="memzoo")
class MemoryBlock(keras.layers.Layer):
    """A pre-norm residual block with working memory and long-short-term memory.

    `h = x + WindowAttention(norm(x))`: the working memory, a causal window of
    `working_memory` tokens reaching back across calls. `r = h +
    MemorySlots(norm(h))`: the long-short-term memory, `long_short_term_memory`
    slots written from `h` at the end of every segment and read by every
    token (skipped when it is 0). `y = r + FeedForward(norm(r))`.

    Args:
        num_heads: int. Attention heads (they divide the width).
        working_memory: int. Window size W >= 1.
        long_short_term_memory: int. Number of slots M >= 0.
        segment_length: int. Tokens between two slot writes.
        intermediate_dim: int. Width of the feed-forward part.
        dropout: float. Dropout rate on each residual branch.
        slot_memory: str. What the slots are: `"associative"`
            (`AssociativeSlots`: addressed by key, written by the delta
            rule, forget gates on time scales from 2 to 1,024 segments) or
            `"gated"` (`MemorySlots`: written by attention over the segment
            through LSTM gates; the shipped presets of before it).

    Call arguments:
        inputs: `[batch, time, width]`.
        state: dict from `get_initial_state()`.
        window_fill: int `[batch]`: real tokens in the window cache.
        segment_position: int `[batch]`: position within the current segment,
            or `None` when every row starts a segment.
        return_memory_weights: bool. Also return how the memory was used.

    Returns:
        `(outputs [batch, time, width], new_state)`, and with
        `return_memory_weights` a dict after them: `attention`, the window's
        weights (`WindowAttention`'s attention scores), and when there are
        slots `MemorySlots`'s gates: `forget_gate`, `input_gate` and
        `written`.

    Example:

    ```python
    block = memzoo.layers.MemoryBlock(
        num_heads=2, working_memory=4, long_short_term_memory=3,
        segment_length=4, intermediate_dim=32,
    )
    block.build((None, None, 8))
    x = np.random.normal(size=(1, 10, 8)).astype("float32")
    zeros = np.zeros(1, "int32")
    outputs, state = block(x, block.get_initial_state(1), zeros, zeros)
    ```
    """

    def __init__(
        self,
        num_heads,
        working_memory,
        long_short_term_memory,
        segment_length,
        intermediate_dim,
        dropout=0.0,
        slot_memory="gated",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_integer("num_heads", num_heads)
        self.working_memory = check_integer("working_memory", working_memory)
        self.long_short_term_memory = check_integer(
            "long_short_term_memory", long_short_term_memory, minimum=0
        )
        self.segment_length = check_integer("segment_length", segment_length)
        self.intermediate_dim = check_integer("intermediate_dim", intermediate_dim)
        self.dropout = check_rate("dropout", dropout)
        self.slot_memory = check_slot_memory(slot_memory)

    def build(self, input_shape):
        width = input_shape[-1]

        def norm(name):
            layer = keras.layers.LayerNormalization(
                epsilon=1e-5, dtype=self.dtype_policy, name=name
            )
            layer.build(input_shape)
            return layer

        self.attention_norm = norm("attention_norm")
        self.attention = WindowAttention(
            self.num_heads, width // self.num_heads, self.working_memory,
            dtype=self.dtype_policy, name="window_attention",
        )
        self.attention.build(input_shape)
        if self.long_short_term_memory:
            self.memory_norm = norm("memory_norm")
            self.write_norm = norm("write_norm")
            # The slot recurrence runs over thousands of segments; it stays in
            # float32 under mixed precision.
            memory_class = SLOT_MEMORIES[self.slot_memory]
            self.memory = memory_class(
                self.long_short_term_memory, self.num_heads,
                self.segment_length, dtype=_float32_variant(self.dtype_policy),
                name="memory_slots",
            )
            self.memory.build(input_shape, input_shape)
            self.memory_state_names = tuple(self.memory.get_initial_state(1))
        self.feedforward_norm = norm("feedforward_norm")
        self.feedforward_in = keras.layers.Dense(
            self.intermediate_dim, activation="gelu", dtype=self.dtype_policy,
            name="feedforward_in",
        )
        self.feedforward_in.build(input_shape)
        self.feedforward_out = keras.layers.Dense(
            width, dtype=self.dtype_policy, name="feedforward_out"
        )
        self.feedforward_out.build((*input_shape[:-1], self.intermediate_dim))
        self.dropout_layer = Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.built = True

    def get_initial_state(self, batch_size):
        state = self.attention.get_initial_state(batch_size)
        if self.long_short_term_memory:
            state.update(self.memory.get_initial_state(batch_size))
        return {
            name: ops.cast(value, self.compute_dtype)
            for name, value in state.items()
        }

    def call(self, inputs, state, window_fill, segment_position=None,
             training=None, return_memory_weights=False):
        attended, new_state, *scores = self.attention(
            self.attention_norm(inputs),
            {"keys": state["keys"], "values": state["values"]},
            window_fill,
            return_attention_scores=return_memory_weights,
        )
        memory_weights = {"attention": scores[0]} if scores else {}
        hidden = inputs + self.dropout_layer(attended, training=training)
        if self.long_short_term_memory:
            memory_state = {name: state[name] for name in self.memory_state_names}
            read, memory_state, *gates = self.memory(
                self.write_norm(hidden),
                self.memory_norm(hidden),
                memory_state,
                segment_position,
                return_gates=return_memory_weights,
            )
            if gates:
                memory_weights.update(gates[0])
            new_state.update(memory_state)
            read = ops.cast(read, self.compute_dtype)
            hidden = hidden + self.dropout_layer(read, training=training)
        feedforward = self.feedforward_out(
            self.feedforward_in(self.feedforward_norm(hidden))
        )
        outputs = hidden + self.dropout_layer(feedforward, training=training)
        new_state = {
            name: ops.cast(value, self.compute_dtype)
            for name, value in new_state.items()
        }
        if return_memory_weights:
            return outputs, new_state, memory_weights
        return outputs, new_state

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "working_memory": self.working_memory,
                "long_short_term_memory": self.long_short_term_memory,
                "segment_length": self.segment_length,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "slot_memory": self.slot_memory,
            }
        )
        return config


SLOT_MEMORIES = {"associative": AssociativeSlots, "gated": MemorySlots}


def check_slot_memory(slot_memory):
    """Returns `slot_memory` if it names a kind of slots, else raises."""
    if slot_memory not in SLOT_MEMORIES:
        raise ValueError(
            "Invalid value for argument `slot_memory`. Expected one of "
            f"{sorted(SLOT_MEMORIES)}. Received: slot_memory={slot_memory!r}"
        )
    return slot_memory


def _float32_variant(policy):
    if policy.compute_dtype in ("float16", "bfloat16"):
        return "float32"
    return policy
