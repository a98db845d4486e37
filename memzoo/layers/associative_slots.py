import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from memzoo.layers.segments import segment_layout
from memzoo.validation import check_integer


@keras.saving.register_keras_serializable(package="memzoo")
class AssociativeSlots(keras.layers.Layer):
    """Memory slots addressed by key, written with the gated delta rule.

    The long-short-term memory of a memory block that remembers: per head,
    `num_slots` slots of `features / num_heads` values each, an associative
    memory `S [M, head]` as in DeltaNet (Schlag et al. 2021; Yang et al.
    2024). Each token writes its value `v` under a key `k` (L2-normalised
    over the M slots, so the slots compete for it; made from the token and
    the one before) with an input gate
    `b = sigmoid(...)`, by the delta rule: `S <- S + b k (v - S^T k)^T`,
    which replaces what was stored under `k` instead of adding to it. A
    token reads `S^T q` with its own normalised query `q`: what was stored
    under the key it asks for, however long ago.

    The slots are written once per segment of `segment_length` tokens
    (counted from the start of the stream, whatever the chunking) and read
    as they stood at the end of the previous segment, so a write never
    reaches the segment that made it. A segment's tokens update a pending
    copy in order; the copy becomes the slots at the segment's end. Its
    sequential updates are computed in parallel (the WY form: one
    triangular solve of `segment_length` rows per segment), and a scan over
    segments carries an `M x M` transition. A forget gate per slot decays
    the slots once a segment. Its biases spread the slots' time constants
    from 2 to `max_timescale` segments, log-spaced (chrono initialization,
    Tallec & Ollivier 2018), so some slots keep what they hold for hundreds
    of segments from the first step of training.

    Keras has no such layer: its RNN cells recur over tokens, and its
    attention has no state written once a segment.

    Args:
        num_slots: int. Slots per head (M >= 1): the memory's key size.
        num_heads: int. Heads; each has its own slots (they divide the width).
        segment_length: int. Tokens between two writes (S >= 1).
        max_timescale: float. The longest initial time constant of the
            forget gates, in segments (>= 2).

    Call arguments:
        inputs: `[batch, time, features]`: what the slots are written from.
        queries: `[batch, time, features]`: what reads the slots.
        state: dict from `get_initial_state()`: `slots`, `pending_slots`
            `[batch, M, features]` (the write of the segment in progress),
            `write_strength` `[batch, M, heads]`, and `previous_input`
            `[batch, features]`, the last token's input (the keys see it).
        segment_position: int `[batch]`: tokens of the current segment seen
            before `inputs`; `None` when every row starts a segment.
        return_gates: bool. Also return the gates of the writes.

    Returns:
        `(read [batch, time, features], new_state)`, and with `return_gates`
        a dict after them, per segment the chunk touches: `forget_gate` and
        `input_gate`, `[batch, segments, num_slots, features]` (a slot's
        decay, and how much the segment's tokens wrote into it: the mean of
        `b * k_m^2`, summed over the tokens and divided by the segment
        length), and `written`, bool `[batch, segments]`.

    Example:

    ```python
    layer = memzoo.layers.AssociativeSlots(num_slots=4, num_heads=2,
                                           segment_length=5)
    x = np.random.normal(size=(1, 12, 8)).astype("float32")
    layer.build(x.shape, x.shape)
    read, state = layer(x, x, layer.get_initial_state(1), np.zeros(1, "int32"))
    ```
    """

    def __init__(self, num_slots, num_heads, segment_length, max_timescale=1024,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_slots = check_integer("num_slots", num_slots)
        self.num_heads = check_integer("num_heads", num_heads)
        self.segment_length = check_integer("segment_length", segment_length)
        if not isinstance(max_timescale, (int, float)) or max_timescale < 2:
            raise ValueError(
                "Invalid value for argument `max_timescale`. Expected a number "
                f">= 2 (segments). Received: max_timescale={max_timescale!r}"
            )
        self.max_timescale = max_timescale

    def build(self, inputs_shape, queries_shape=None):
        features = inputs_shape[-1]
        if features % self.num_heads:
            raise ValueError(
                "Invalid value for argument `num_heads`. Expected a divisor "
                f"of the width {features}. Received: num_heads={self.num_heads}"
            )
        self.features = features
        self.head_dim = features // self.num_heads
        token_shape = (None, None, features)

        def dense(equation, output_shape, name, input_shape=token_shape, **kw):
            layer = keras.layers.EinsumDense(
                equation, output_shape, dtype=self.dtype_policy, name=name, **kw
            )
            layer.build(input_shape)
            return layer

        slots = (None, self.num_heads, self.num_slots)
        # The key sees the token before as well (a causal convolution of
        # width 2, as DeltaNet's short convolutions): a pair `k v` is then
        # written at `v`, under a key made from `k`.
        self.write_key = dense(
            "btd,dhm->bthm", slots, "write_key", (None, None, 2 * features)
        )
        self.write_value = dense(
            "btd,dhk->bthk", (None, self.num_heads, self.head_dim), "write_value"
        )
        self.input_gate = dense(
            "btd,dh->bth", (None, self.num_heads), "input_gate", bias_axes="h"
        )
        self.read_query = dense("btd,dhm->bthm", slots, "read_query")
        # A token starts stored under the key its predecessor would read
        # with, the prior of H3's shifted keys (Fu et al. 2023) and of
        # induction heads: `k v ... k` reads `v` from the first step, so
        # training starts from recall instead of having to find it.
        query_kernel = ops.convert_to_tensor(self.read_query.kernel)
        self.write_key.kernel.assign(
            ops.concatenate([ops.zeros_like(query_kernel), query_kernel], 0)
        )
        self.read_output = dense(
            "bthk,hkd->btd", (None, features), "read_output",
            (None, None, self.num_heads, self.head_dim),
        )
        self.forget_bias = self.add_weight(
            shape=(self.num_heads, self.num_slots),
            initializer=ChronoForgetBias(self.max_timescale),
            name="forget_bias",
        )
        self.built = True

    def get_initial_state(self, batch_size):
        slots = ops.zeros((batch_size, self.num_slots, self.features))
        return {
            "slots": slots,
            "pending_slots": slots,
            "write_strength": ops.zeros(
                (batch_size, self.num_slots, self.num_heads)
            ),
            "previous_input": ops.zeros((batch_size, self.features)),
        }

    def call(self, inputs, queries, state, segment_position=None,
             return_gates=False):
        length = inputs.shape[1]
        if length is None:
            length = ops.shape(inputs)[1]
        num_segments, to_segments, from_segments, valid, ends = segment_layout(
            ops.shape(inputs)[0], length, self.segment_length, segment_position
        )
        previous = ops.concatenate(
            [ops.expand_dims(ops.cast(state["previous_input"], inputs.dtype), 1),
             inputs[:, :-1]],
            axis=1,
        )
        keys = self.write_key(ops.concatenate([inputs, previous], axis=-1))
        keys = to_segments(_unit(keys))
        values = to_segments(self.write_value(inputs))
        strength = ops.sigmoid(ops.cast(self.input_gate(inputs), "float32"))
        strength = to_segments(strength) * ops.expand_dims(valid, -1)
        transitions, inflows = self._segment_writes(keys, values, strength)
        written_share = ops.sum(
            ops.expand_dims(strength, -1) * keys**2, axis=2
        ) / self.segment_length

        slots_before, new_state, written_share = self._scan_segments(
            state, num_segments, transitions, inflows, written_share, ends,
            return_gates,
        )
        new_state["previous_input"] = ops.cast(inputs[:, -1], "float32")
        # Every token reads the slots as they stood before its segment.
        queries = to_segments(_unit(self.read_query(queries)))
        read = ops.einsum("bnshm,bnhmk->bnshk", queries, slots_before)
        read = ops.reshape(
            read,
            (-1, num_segments * self.segment_length, self.num_heads,
             self.head_dim),
        )
        read = self.read_output(from_segments(read))
        if not return_gates:
            return read, new_state
        forget = ops.broadcast_to(
            self._to_features(ops.sigmoid(self.forget_bias)[None, None]),
            (ops.shape(ends)[0], num_segments, self.num_slots, self.features),
        )
        return read, new_state, {
            "forget_gate": forget,
            "input_gate": self._to_features(written_share),
            "written": ends > 0,
        }

    def _segment_writes(self, keys, values, strength):
        """Each segment's sequential delta-rule updates as one linear map.

        Token by token, `S <- S + b k (v - S^T k)^T` from a segment's start
        `S0` ends in `S = A S0 + B`: `A = I - K^T W`, `B = K^T U`, where `U`
        and `W` solve `(I + L) U = diag(b) V` and `(I + L) W = diag(b) K`,
        `L` the strictly lower part of `diag(b) K K^T` (Yang et al. 2024).
        Tokens masked with `b = 0` leave `S` as it is.
        """
        keys = ops.einsum("bnshm->bnhsm", keys)
        values = ops.einsum("bnshk->bnhsk", ops.cast(values, "float32"))
        strength = ops.einsum("bnsh->bnhs", strength)
        gram = ops.einsum("bnhsm,bnhtm->bnhst", keys, keys)
        lower = ops.tril(gram * ops.expand_dims(strength, -1), -1)
        system = lower + ops.eye(self.segment_length)
        weighted = ops.expand_dims(strength, -1)
        solved = tf.linalg.triangular_solve(
            system,
            ops.concatenate([weighted * keys, weighted * values], axis=-1),
            lower=True,
        )
        key_part, value_part = solved[..., : self.num_slots], solved[..., self.num_slots :]
        transitions = ops.eye(self.num_slots) - ops.einsum(
            "bnhsm,bnhsl->bnhml", keys, key_part
        )
        inflows = ops.einsum("bnhsm,bnhsk->bnhmk", keys, value_part)
        return transitions, inflows

    def _scan_segments(self, state, num_segments, transitions, inflows,
                       written_share, ends, return_gates):
        """Runs the writes over the segments: the slots each segment reads,
        the new state, and with `return_gates` each segment's write
        strength so far (else `None`: kept per segment only when asked)."""
        forget = ops.expand_dims(ops.sigmoid(self.forget_bias), -1)

        def time_major(tensor):
            return ops.moveaxis(tensor, 1, 0)

        arrays = [
            tf.TensorArray(tensor.dtype, size=num_segments)
            .unstack(time_major(tensor))
            for tensor in (transitions, inflows, written_share, ends)
        ]

        def write(index, slots, pending, share, before, *shares):
            transition, inflow, segment_share, end = (
                array.read(index) for array in arrays
            )
            pending = ops.einsum("bhml,bhlk->bhmk", transition, pending) + inflow
            share = share + segment_share
            end_slots = ops.reshape(end, (-1, 1, 1, 1))
            before = before.write(index, slots)
            shares = [array.write(index, share) for array in shares]
            new_slots = slots + end_slots * (pending - slots)
            # The next segment starts from the decayed slots.
            pending = pending + end_slots * (forget * pending - pending)
            share = share * (1.0 - ops.reshape(end, (-1, 1, 1)))
            return (index + 1, new_slots, pending, share, before, *shares)

        loop_state = (
            ops.convert_to_tensor(0, "int32"),
            self._to_heads(state["slots"]),
            self._to_heads(state["pending_slots"]),
            ops.einsum("bmh->bhm", state["write_strength"]),
            *(tf.TensorArray("float32", size=num_segments)
              for _ in range(2 if return_gates else 1)),
        )
        _, slots, pending, share, before, *shares = tf.while_loop(
            lambda index, *_: index < num_segments,
            write,
            loop_state,
            maximum_iterations=num_segments,
        )
        new_state = {
            "slots": self._from_heads(slots),
            "pending_slots": self._from_heads(pending),
            "write_strength": ops.einsum("bhm->bmh", share),
        }
        shares = time_major(shares[0].stack()) if shares else None
        return time_major(before.stack()), new_state, shares

    def _to_heads(self, slots):
        """`[batch, M, features]` to `[batch, heads, M, head]`."""
        slots = ops.reshape(
            ops.cast(slots, "float32"),
            (-1, self.num_slots, self.num_heads, self.head_dim),
        )
        return ops.einsum("bmhk->bhmk", slots)

    def _from_heads(self, slots):
        return ops.reshape(
            ops.einsum("bhmk->bmhk", slots), (-1, self.num_slots, self.features)
        )

    def _to_features(self, per_head):
        """`[..., heads, M]` to `[..., M, features]`, each head's value on
        its features."""
        per_head = ops.repeat(ops.expand_dims(per_head, -1), self.head_dim, -1)
        return ops.reshape(
            ops.moveaxis(per_head, -3, -2),
            (*ops.shape(per_head)[:-3], self.num_slots, self.features),
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
                "max_timescale": self.max_timescale,
            }
        )
        return config


def _unit(tensor):
    """L2-normalised over the last axis (the slots), in float32.

    The 1e-3 under the root shrinks keys of a norm well below 0.03 instead
    of blowing them up: with one slot, a key is otherwise its sign, which
    flips on rounding errors (chunks and one call then differed by 1e-4).
    """
    tensor = ops.cast(tensor, "float32")
    return tensor * ops.rsqrt(ops.sum(tensor**2, axis=-1, keepdims=True) + 1e-3)


@keras.saving.register_keras_serializable(package="memzoo")
class ChronoForgetBias(keras.initializers.Initializer):
    """Forget-gate biases `[..., M]` whose time constants are log-spaced.

    Slot `m` keeps `f = sigmoid(bias)` of itself per write, a time constant
    of `1 / (1 - f)` writes: the biases `log(tau - 1)` give time constants
    `tau` from 2 to `max_timescale`, evenly on a log scale over the last
    axis (Tallec & Ollivier 2018 draw them at random; evenly spaced, every
    head has the whole range).
    """

    def __init__(self, max_timescale):
        self.max_timescale = max_timescale

    def __call__(self, shape, dtype=None):
        count = shape[-1]
        timescales = np.geomspace(2.0, self.max_timescale, count) if count > 1 \
            else np.array([math.sqrt(2.0 * self.max_timescale)])
        biases = np.log(timescales - 1.0)
        return ops.cast(np.broadcast_to(biases, shape), dtype or "float32")

    def get_config(self):
        return {"max_timescale": self.max_timescale}
