import keras
import tensorflow as tf
from keras import ops

from memzoo.layers.segments import segment_layout
from memzoo.layers.softmax import stable_softmax
from memzoo.validation import check_integer

_MASKED = -1e30


@keras.saving.register_keras_serializable(package="memzoo")
class MemorySlots(keras.layers.Layer):
    """Memory slots written through LSTM gates once per segment, read by attention.

    The long-short-term memory of a memory block: `num_slots` vectors carried
    from segment to segment. Every token reads the slots by attention, as they
    stood at the end of the previous segment. At the end of each segment of
    `segment_length` tokens (counted from the start of the stream, whatever
    the chunking), the slots attend over that segment's tokens, and the result
    is the candidate of a gated update of the slots:
    `f, i = sigmoid(...)`, `C~ = tanh(...)`, `C <- f * C + (1 - f) * i * C~`.
    The forget gate's complement admits what the input gate lets in (as a
    GRU's update gate does), so the slots stay within [-1, 1] however long
    the stream. With an LSTM's `f * C + i * C~`, trained slots learned to
    count writes (+1 a segment), a count that a stream carried past the
    training length took far outside anything trained on.

    The write attention accumulates with an online softmax, so a segment split
    across calls is written exactly as if it came in one call, and the state
    does not grow with the segment length. Segments are visited by a scan (the
    recurrence is sequential across segments only); reads are parallel. Keras
    has no such layer: LSTM cells recur over tokens, not over slots updated
    once a segment.

    Args:
        num_slots: int. Number of memory slots (M >= 1).
        num_heads: int. Attention heads for reading and writing.
        segment_length: int. Tokens between two writes (S >= 1).

    Call arguments:
        inputs: `[batch, time, features]`: what the slots are written from.
        queries: `[batch, time, features]`: what reads the slots.
        state: dict from `get_initial_state()`: `slots`, and the running
            `write_max`, `write_sum`, `write_accumulator` of the segment in
            progress.
        segment_position: int `[batch]`: tokens of the current segment seen
            before `inputs`; `None` when every row starts a segment (a
            stream's first call, training windows), which is faster.
        return_gates: bool. Also return the gates of the writes.

    Returns:
        `(read [batch, time, features], new_state)`, and with `return_gates`
        a dict after them, per segment the chunk touches (the first is the
        one `segment_position` is in): `forget_gate` and `input_gate`,
        `[batch, segments, num_slots, features]`, the gates of the segment's
        write, and `written`, bool `[batch, segments]`, whether the segment ended in
        this chunk and was written (the gates of the others are those a
        write would have had at the chunk's end).

    Example:

    ```python
    layer = memzoo.layers.MemorySlots(num_slots=4, num_heads=2, segment_length=5)
    x = np.random.normal(size=(1, 12, 8)).astype("float32")
    layer.build(x.shape, x.shape)
    read, state = layer(x, x, layer.get_initial_state(1), np.zeros(1, "int32"))
    ```
    """

    def __init__(self, num_slots, num_heads, segment_length, **kwargs):
        super().__init__(**kwargs)
        self.num_slots = check_integer("num_slots", num_slots)
        self.num_heads = check_integer("num_heads", num_heads)
        self.segment_length = check_integer("segment_length", segment_length)

    def build(self, inputs_shape, queries_shape=None):
        features = inputs_shape[-1]
        if features % self.num_heads:
            raise ValueError(
                "Invalid value for argument `num_heads`. Expected a divisor "
                f"of the width {features}. Received: num_heads={self.num_heads}"
            )
        self.key_dim = features // self.num_heads
        heads = (None, self.num_heads, self.key_dim)

        def dense(equation, output_shape, name, input_shape):
            layer = keras.layers.EinsumDense(
                equation, output_shape, dtype=self.dtype_policy, name=name
            )
            layer.build(input_shape)
            return layer

        # Learned slot identities: without them, slots that start equal would
        # read and write alike forever.
        self.slot_embedding = self.add_weight(
            shape=(self.num_slots, features),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="slot_embedding",
        )
        self.slot_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="slot_norm"
        )
        self.slot_norm.build((None, self.num_slots, features))
        token_shape = (None, None, features)
        slot_shape = (None, self.num_slots, features)
        self.write_query = dense("bmd,dhk->bmhk", heads, "write_query", slot_shape)
        self.write_key = dense("btd,dhk->bthk", heads, "write_key", token_shape)
        self.write_value = dense("btd,dhk->bthk", heads, "write_value", token_shape)
        self.write_output = dense(
            "bhmk,hkd->bmd", (self.num_slots, features), "write_output",
            (None, self.num_heads, self.num_slots, self.key_dim),
        )
        # Forget, input and candidate pre-activations from [slots, attended].
        # An einsum rather than a Dense: the Dense's tensordot computes its
        # transpose from the batch size, which XLA cannot compile in the
        # gradient of the scan when the batch size is not static.
        self.gates = keras.layers.EinsumDense(
            "bmf,fg->bmg",
            (self.num_slots, 3 * features),
            bias_axes="g",
            bias_initializer=_ForgetBiasOne(features),
            dtype=self.dtype_policy,
            name="gates",
        )
        self.gates.build((None, self.num_slots, 2 * features))
        read_heads = (None, None, self.num_heads, self.key_dim)
        self.read_query = dense(
            "bnsd,dhk->bnshk", read_heads, "read_query",
            (None, None, None, features),
        )
        self.read_key = dense(
            "bnmd,dhk->bnmhk", read_heads, "read_key",
            (None, None, self.num_slots, features),
        )
        self.read_value = dense(
            "bnmd,dhk->bnmhk", read_heads, "read_value",
            (None, None, self.num_slots, features),
        )
        self.read_output = dense(
            "bnshk,hkd->bnsd", (None, None, features), "read_output",
            (None, None, None, self.num_heads, self.key_dim),
        )
        self.features = features
        self.built = True

    def get_initial_state(self, batch_size):
        heads = (batch_size, self.num_heads, self.num_slots)
        return {
            "slots": ops.zeros((batch_size, self.num_slots, self.features)),
            "write_max": ops.zeros(heads),
            "write_sum": ops.zeros(heads),
            "write_accumulator": ops.zeros((*heads, self.key_dim)),
        }

    def call(self, inputs, queries, state, segment_position=None,
             return_gates=False):
        length = inputs.shape[1]
        if length is None:
            length = ops.shape(inputs)[1]
        # A static choice: the gather and its scatter gradient cost more than
        # the rest of the layer, and a `tf.cond` around the write loop does
        # not compile with XLA (the loop's variables would leave the branch).
        if inputs.shape[1] == 1:
            start = (ops.zeros((ops.shape(inputs)[0],), "int32")
                     if segment_position is None
                     else ops.cast(segment_position, "int32"))
            return self._one_token(inputs, queries, state, start, return_gates)
        layout = segment_layout(
            ops.shape(inputs)[0], length, self.segment_length, segment_position
        )
        return self._write_and_read(inputs, queries, state, *layout,
                                    return_gates)

    def _write_and_read(self, inputs, queries, state, num_segments,
                        to_segments, from_segments, valid_segments, ends,
                        return_gates):
        """Writes the segments that end in this chunk; every token reads.

        The layout is `segment_layout`'s.
        """
        segment = self.segment_length
        write_keys = to_segments(self.write_key(inputs))
        write_values = to_segments(self.write_value(inputs))

        def time_major(tensor):
            return ops.moveaxis(tensor, 1, 0)

        # A while loop rather than `tf.scan`: the scan would stack every part
        # of its carry at every segment, and each stack costs ops forward and
        # backward; only the slots before each write are needed per segment.
        inputs_per_segment = [
            tf.TensorArray(tensor.dtype, size=num_segments).unstack(
                time_major(tensor)
            )
            for tensor in (write_keys, write_values, valid_segments, ends)
        ]
        # Not started is a running maximum of `_MASKED` inside the loop, so
        # that no step needs to ask; the state says it with a running sum 0.
        running_max = ops.where(
            state["write_sum"] > 0, state["write_max"], _MASKED
        )

        def write(index, slots, running_max, running_sum, accumulator,
                  *outputs):
            keys, values, valid, end = (
                array.read(index) for array in inputs_per_segment
            )
            *new_carry, gates = self._write_segment(
                (slots, running_max, running_sum, accumulator), keys, values,
                valid, end,
            )
            # The state may know the batch size statically when the tokens
            # do not; a loop variable must keep its shape.
            new_carry = [
                tf.ensure_shape(value, old.shape)
                for value, old in zip(new_carry, old_carry(slots))
            ]
            # The raw slots are kept per segment, not their normalized inputs:
            # with those, Grappler's memory optimizer rewrote a gradient sum in
            # the loop into a temporary variable that failed at batch 32 x 256
            # (`AlreadyExistsError ... tmp_var`, tensorflow#23780). The gates
            # are kept only when asked for: each kept tensor costs the loop.
            written = (slots, *gates) if return_gates else (slots,)
            outputs = [
                array.write(index, value)
                for array, value in zip(outputs, written)
            ]
            return (index + 1, *new_carry, *outputs)

        def old_carry(slots):
            return (slots, state["write_max"], state["write_sum"],
                    state["write_accumulator"])

        loop_state = (
            ops.convert_to_tensor(0, "int32"),
            state["slots"],
            running_max,
            state["write_sum"],
            state["write_accumulator"],
            *(
                tf.TensorArray(state["slots"].dtype, size=num_segments)
                for _ in range(3 if return_gates else 1)
            ),
        )
        _, *carry = tf.while_loop(
            lambda index, *_: index < num_segments,
            write,
            loop_state,
            maximum_iterations=num_segments,
        )
        carry, outputs = carry[:4], [
            time_major(array.stack()) for array in carry[4:]
        ]
        carry[1] = ops.where(carry[2] > 0, carry[1], 0.0)
        # [batch, segments, M, D]: what the tokens of each segment read.
        slot_versions = self._slot_inputs(outputs[0])

        # Every token reads the version of the slots of its own segment.
        read = self._read(to_segments(queries), slot_versions)
        read = ops.reshape(read, (-1, num_segments * segment, self.features))
        read = from_segments(read)
        new_state = dict(
            zip(("slots", "write_max", "write_sum", "write_accumulator"), carry)
        )
        if not return_gates:
            return read, new_state
        gates = {"forget_gate": outputs[1], "input_gate": outputs[2],
                 "written": ends > 0}
        return read, new_state, gates

    def _write_segment(self, carry, keys, values, valid, end):
        """Adds a segment's tokens (`valid` of them) to the running write
        attention; where the segment `end`s, writes the slots and restarts.

        `carry`: `(slots, running_max, running_sum, accumulator)`, a running
        maximum of `_MASKED` where nothing has been added yet. Returns the
        new carry and the write's `(forget, input)` gates.
        """
        slots, running_max, running_sum, accumulator = carry
        running_max, running_sum, accumulator = self._attend(
            self._slot_inputs(slots), keys, values, valid, running_max,
            running_sum, accumulator,
        )
        attended = accumulator / ops.expand_dims(
            ops.maximum(running_sum, 1e-30), -1
        )
        written, gates = self._lstm_update(slots, self.write_output(attended))
        end_slots = ops.reshape(end, (-1, 1, 1))
        keep = 1.0 - end_slots
        return (
            slots + end_slots * (written - slots),
            ops.where(end_slots > 0, _MASKED, running_max),
            keep * running_sum,
            ops.expand_dims(keep, -1) * accumulator,
            gates,
        )

    def _one_token(self, inputs, queries, state, start, return_gates):
        """`call` for a chunk of one token, as in decoding: no alignment and
        no loop (a tenth of the layer's decode time with XLA went to them)."""
        valid = ops.ones((ops.shape(inputs)[0], 1), "float32")
        end = ops.cast(start + 1 >= self.segment_length, "float32")
        running_max = ops.where(
            state["write_sum"] > 0, state["write_max"], _MASKED
        )
        slots, running_max, running_sum, accumulator, gates = self._write_segment(
            (state["slots"], running_max, state["write_sum"],
             state["write_accumulator"]),
            self.write_key(inputs), self.write_value(inputs), valid, end,
        )
        # The token reads the slots as they were before its segment's write.
        read = self._read(
            ops.expand_dims(queries, 1),
            ops.expand_dims(self._slot_inputs(state["slots"]), 1),
        )[:, 0]
        new_state = {
            "slots": slots,
            "write_max": ops.where(running_sum > 0, running_max, 0.0),
            "write_sum": running_sum,
            "write_accumulator": accumulator,
        }
        if not return_gates:
            return read, new_state
        forget, input_gate = (ops.expand_dims(gate, 1) for gate in gates)
        written = ops.expand_dims(end > 0, 1)
        return read, new_state, {
            "forget_gate": forget, "input_gate": input_gate, "written": written
        }

    def _slot_inputs(self, slots):
        return self.slot_norm(slots) + ops.cast(
            self.slot_embedding, self.compute_dtype
        )

    def _attend(self, slot_inputs, keys, values, valid, running_max, running_sum,
                accumulator):
        """Adds one segment's tokens to the slots' running write attention."""
        queries = self.write_query(slot_inputs)
        scores = ops.einsum("bmhk,bshk->bhms", queries, keys)
        scores = ops.cast(scores, "float32") / (self.key_dim**0.5)
        valid = ops.reshape(valid, (-1, 1, 1, ops.shape(valid)[-1]))
        # Masks go inside the exponentials: an exponential that overflows in
        # a branch `where` discards still turns its gradient into NaN.
        scores = scores + (1.0 - valid) * _MASKED
        # The result does not depend on the maximum, so neither does its
        # gradient: the maximum only keeps the exponentials in range.
        new_max = ops.stop_gradient(
            ops.maximum(running_max, ops.max(scores, axis=-1))
        )
        rescale = ops.exp(running_max - new_max)
        weights = valid * ops.exp(scores - ops.expand_dims(new_max, -1))
        new_sum = running_sum * rescale + ops.sum(weights, axis=-1)
        new_accumulator = accumulator * ops.expand_dims(rescale, -1) + ops.einsum(
            "bhms,bshk->bhmk", weights, ops.cast(values, "float32")
        )
        return new_max, new_sum, new_accumulator

    def _lstm_update(self, slots, candidate_input):
        """The written slots, and the `(forget, input)` gates that wrote them."""
        gates = self.gates(ops.concatenate([slots, candidate_input], axis=-1))
        forget, input_gate, candidate = ops.split(gates, 3, axis=-1)
        forget, input_gate = ops.sigmoid(forget), ops.sigmoid(input_gate)
        # A convex mix of the slots and the gated candidate: bounded.
        written = forget * slots + (1.0 - forget) * (
            input_gate * ops.tanh(candidate))
        return written, (forget, input_gate)

    def _read(self, queries, slot_inputs):
        queries = self.read_query(queries)
        keys = self.read_key(slot_inputs)
        values = self.read_value(slot_inputs)
        scores = ops.einsum("bnshk,bnmhk->bnhsm", queries, keys)
        scores = ops.cast(scores, "float32") / (self.key_dim**0.5)
        weights = ops.cast(stable_softmax(scores), self.compute_dtype)
        return self.read_output(
            ops.einsum("bnhsm,bnmhk->bnshk", weights, values)
        )

    def compute_output_shape(self, inputs_shape, queries_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_slots": self.num_slots,
                "num_heads": self.num_heads,
                "segment_length": self.segment_length,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="memzoo")
class _ForgetBiasOne(keras.initializers.Initializer):
    """Gate biases with the forget gate's set to 1, as Keras's LSTM does."""

    def __init__(self, features):
        self.features = features

    def __call__(self, shape, dtype=None):
        return ops.concatenate(
            [
                ops.ones((self.features,), dtype),
                ops.zeros((shape[0] - self.features,), dtype),
            ]
        )

    def get_config(self):
        return {"features": self.features}
