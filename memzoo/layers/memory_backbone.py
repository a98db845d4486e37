import keras
import tensorflow as tf
from keras import ops

from memzoo.layers.memory_block import MemoryBlock
from memzoo.layers.memory_block import check_slot_memory
from memzoo.layers.stateful_lstm_stack import StatefulLSTMStack
from memzoo.validation import check_integer
from memzoo.validation import check_rate


@keras.saving.register_keras_serializable(package="memzoo")
class MemoryBackbone(keras.layers.Layer):
    """The trunk of the memory models over embedded tokens, state carried.

    `lstm_layers` token LSTMs (`StatefulLSTMStack`), a projection to
    `hidden_dim` when there are none and the input is another width, then
    `num_layers` `MemoryBlock`s (window attention over `working_memory`
    tokens, `long_short_term_memory` slots written every `segment_length`
    tokens) and a final layer normalization. `BigLanguageModel` puts a
    next-token head on it; `TextClassifier(backbone="memory")` pools it.

    Args:
        hidden_dim: int. Width of the LSTMs and blocks.
        num_layers: int. Memory blocks.
        num_heads: int. Attention heads per block.
        working_memory: int. Window size W >= 1.
        long_short_term_memory: int. Slots M >= 0.
        segment_length: int or `None`. Tokens between slot writes
            (`None`: W).
        lstm_layers: int >= 0. Token LSTMs before the blocks.
        dropout: float. Dropout rate.
        slot_memory: str. `"associative"` or `"gated"` slots
            (`MemoryBlock`'s).

    Call arguments:
        inputs: `[batch, time, features]`.
        state: dict from `get_initial_state()`, or `None` for the start of
            a stream (the same, and faster: the slots know that every row
            starts a segment).
        return_memory_weights: bool. Also return how each block used its
            memory.

    Returns:
        `(outputs [batch, time, hidden_dim], new_state)`, and with
        `return_memory_weights` a list after them: each block's dict of
        `MemoryBlock`'s memory weights.

    Example:

    ```python
    backbone = memzoo.layers.MemoryBackbone(
        hidden_dim=8, num_layers=1, num_heads=2, working_memory=4,
        long_short_term_memory=2)
    x = np.random.normal(size=(1, 10, 6)).astype("float32")
    backbone.build(x.shape)
    outputs, state = backbone(x, backbone.get_initial_state(1))
    more, state = backbone(x, state)   # goes on where the first call ended
    ```
    """

    def __init__(
        self,
        hidden_dim,
        num_layers,
        num_heads,
        working_memory,
        long_short_term_memory,
        segment_length=None,
        lstm_layers=1,
        dropout=0.0,
        slot_memory="gated",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_integer("hidden_dim", hidden_dim)
        self.num_layers = check_integer("num_layers", num_layers)
        self.num_heads = check_integer("num_heads", num_heads)
        self.working_memory = check_integer("working_memory", working_memory)
        self.long_short_term_memory = check_integer(
            "long_short_term_memory", long_short_term_memory, minimum=0
        )
        self.segment_length = (
            None if segment_length is None
            else check_integer("segment_length", segment_length)
        )
        self.lstm_layers = check_integer("lstm_layers", lstm_layers, minimum=0)
        self.dropout = check_rate("dropout", dropout)
        self.slot_memory = check_slot_memory(slot_memory)
        self.token_lstms = StatefulLSTMStack(
            hidden_dim, lstm_layers, dropout, dtype=self.dtype_policy,
            name="token_lstms",
        )
        # Made in `build` when the input width asks for it.
        self.input_projection = None
        self.blocks = [
            MemoryBlock(
                num_heads=num_heads,
                working_memory=working_memory,
                long_short_term_memory=long_short_term_memory,
                segment_length=segment_length or working_memory,
                intermediate_dim=4 * hidden_dim,
                dropout=dropout,
                slot_memory=slot_memory,
                dtype=self.dtype_policy,
                name=f"memory_block_{index}",
            )
            for index in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="final_norm"
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.token_lstms.build(input_shape)
        if self.lstm_layers == 0 and input_shape[-1] != self.hidden_dim:
            self.input_projection = keras.layers.Dense(
                self.hidden_dim, dtype=self.dtype_policy, name="input_projection"
            )
            self.input_projection.build(input_shape)
        shape = (*input_shape[:-1], self.hidden_dim)
        for block in self.blocks:
            block.build(shape)
        self.final_norm.build(shape)
        self.built = True

    def get_initial_state(self, batch_size):
        """The state at the start of a stream: a dict of fixed-shape tensors.

        `lstm_<i>_h`, `lstm_<i>_c` `[batch, hidden]`; per block
        `block_<i>_keys`, `block_<i>_values` `[batch, W - 1, heads, head]`
        and, when M > 0, `block_<i>_slots` `[batch, M, hidden]` with the
        write of the current segment in progress (associative slots:
        `block_<i>_pending_slots`, `_write_strength`; gated slots:
        `block_<i>_write_max`, `_write_sum`, `_write_accumulator`);
        `window_fill` and `segment_position`, int32 `[batch]`.
        """
        state = self.token_lstms.get_initial_state(batch_size)
        for index, block in enumerate(self.blocks):
            for name, value in block.get_initial_state(batch_size).items():
                state[f"block_{index}_{name}"] = value
        state["window_fill"] = ops.zeros((batch_size,), "int32")
        state["segment_position"] = ops.zeros((batch_size,), "int32")
        return state

    def call(self, inputs, state=None, training=None,
             return_memory_weights=False):
        length = ops.shape(inputs)[1]
        if state is None:
            state = self.get_initial_state(ops.shape(inputs)[0])
            segment_position = None
        else:
            segment_position = state["segment_position"]
            # Zeros known when tracing (stateful training's windows of a
            # multiple of the segment length): every row starts a segment.
            static = tf.get_static_value(segment_position)
            if static is not None and not static.any():
                segment_position = None
        x, new_state = self.token_lstms(inputs, state, training=training)
        if self.input_projection is not None:
            x = self.input_projection(x)
        window_fill = state["window_fill"]
        memory_weights = []
        for index, block in enumerate(self.blocks):
            prefix = f"block_{index}_"
            block_state = {
                name[len(prefix):]: value
                for name, value in state.items()
                if name.startswith(prefix)
            }
            x, block_state, *weights = block(
                x, block_state, window_fill, segment_position,
                training=training, return_memory_weights=return_memory_weights,
            )
            memory_weights.extend(weights)
            new_state.update({prefix + name: v for name, v in block_state.items()})
        new_state["window_fill"] = ops.minimum(
            window_fill + length, self.working_memory - 1
        )
        if segment_position is None:
            segment_position = state["segment_position"]
        new_state["segment_position"] = (segment_position + length) % (
            self.segment_length or self.working_memory
        )
        if return_memory_weights:
            return self.final_norm(x), new_state, memory_weights
        return self.final_norm(x), new_state

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "working_memory": self.working_memory,
                "long_short_term_memory": self.long_short_term_memory,
                "segment_length": self.segment_length,
                "lstm_layers": self.lstm_layers,
                "dropout": self.dropout,
                "slot_memory": self.slot_memory,
            }
        )
        return config
