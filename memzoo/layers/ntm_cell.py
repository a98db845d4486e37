import keras
import numpy as np
from keras import ops

from memzoo.validation import check_integer

# Keeps norms and logarithms finite (and their gradients) when a key, a
# memory row or a weighting is exactly zero.
_EPSILON = 1e-8


def content_weighting(memory, keys, strengths):
    """Content addressing: a softmax over slots of the keys' cosine similarity.

    Args:
        memory: `[batch, slots, width]`.
        keys: `[batch, heads, width]`.
        strengths: `[batch, heads]`, >= 0. The key strengths (beta): 0 gives
            the uniform weighting, large values the most similar slot.

    Returns:
        `[batch, heads, slots]`, each row a distribution over the slots.
    """
    dots = ops.einsum("bhm,bnm->bhn", keys, memory)
    key_norms = ops.sqrt(ops.sum(ops.square(keys), axis=-1) + _EPSILON)
    memory_norms = ops.sqrt(ops.sum(ops.square(memory), axis=-1) + _EPSILON)
    similarity = dots / (key_norms[:, :, None] * memory_norms[:, None, :])
    return ops.softmax(strengths[:, :, None] * similarity, axis=-1)


def interpolate(content, previous, gates):
    """`g * content + (1 - g) * previous`: gate 1 keeps only the content weighting.

    Args:
        content: `[batch, heads, slots]`.
        previous: `[batch, heads, slots]`, the weightings of the last step.
        gates: `[batch, heads]` in [0, 1].
    """
    gates = gates[:, :, None]
    return gates * content + (1.0 - gates) * previous


def shift_weighting(weightings, shifts):
    """Circular convolution of weightings with shift distributions.

    Args:
        weightings: `[batch, heads, slots]`.
        shifts: `[batch, heads, 2 * shift_range + 1]`, distributions over
            the offsets `-shift_range, ..., +shift_range`: a one-hot on
            `+1` moves every weight one slot forward, wrapping around.

    Returns:
        `[batch, heads, slots]`; distributions stay distributions.
    """
    shift_range = (shifts.shape[-1] - 1) // 2
    # 2 * shift_range + 1 rolls: a Python loop over offsets, not over time.
    shifted = 0.0
    for index, offset in enumerate(range(-shift_range, shift_range + 1)):
        shifted = shifted + shifts[:, :, index : index + 1] * ops.roll(
            weightings, offset, axis=-1
        )
    return shifted


def sharpen(weightings, gammas):
    """`w ** gamma / sum(w ** gamma)`, computed as a softmax of `gamma * log w`.

    The log form has finite gradients where a weight is 0 (a power's
    gradient with respect to gamma, `w ** gamma * log w`, is NaN there).

    Args:
        weightings: `[batch, heads, slots]`, non-negative.
        gammas: `[batch, heads]`, >= 1. Large values approach a one-hot
            weighting on the largest weight.
    """
    return ops.softmax(
        gammas[:, :, None] * ops.log(weightings + _EPSILON), axis=-1
    )


def address(memory, previous, keys, strengths, gates, shifts, gammas):
    """The NTM addressing pipeline: content, interpolation, shift, sharpening.

    Args:
        memory: `[batch, slots, width]`.
        previous: `[batch, heads, slots]`, the weightings of the last step.
        keys, strengths, gates, shifts, gammas: the heads' parameters, as
            for `content_weighting`, `interpolate`, `shift_weighting` and
            `sharpen`.

    Returns:
        The new weightings `[batch, heads, slots]`.
    """
    weightings = content_weighting(memory, keys, strengths)
    weightings = interpolate(weightings, previous, gates)
    weightings = shift_weighting(weightings, shifts)
    return sharpen(weightings, gammas)


def read_memory(memory, weightings):
    """The read vectors `sum_i w_i M_i`: `[batch, heads, width]`."""
    return ops.einsum("bhn,bnm->bhm", weightings, memory)


def write_memory(memory, weightings, erase, add):
    """Erase then add: `M_i <- M_i * prod_h(1 - w_hi e_h) + sum_h w_hi a_h`.

    Args:
        memory: `[batch, slots, width]`.
        weightings: `[batch, heads, slots]` of the write heads.
        erase: `[batch, heads, width]` in [0, 1].
        add: `[batch, heads, width]`.

    Returns:
        The new memory `[batch, slots, width]`.
    """
    kept = ops.prod(
        1.0 - weightings[:, :, :, None] * erase[:, :, None, :], axis=1
    )
    return memory * kept + ops.einsum("bhn,bhm->bnm", weightings, add)


@keras.saving.register_keras_serializable(package="memzoo")
class NTMCell(keras.layers.Layer):
    """A Neural Turing Machine step, as a cell for `keras.layers.RNN`.

    Graves, Wayne and Danihelka, "Neural Turing Machines" (2014): a
    `keras.layers.LSTMCell` controller reads its input and the last step's
    read vectors; its output sets each head's key (tanh), key strength
    (softplus), interpolation gate (sigmoid), shift distribution (softmax)
    and sharpening exponent (1 + softplus). The read heads read the memory
    as the last step left it, then the write heads erase (sigmoid) and add
    (tanh, so the memory stays bounded). The step's output is the
    controller's output and the read vectors. Keras has no layer with NTM
    addressing, so the step is written here by hand; the recurrence over
    time is `keras.layers.RNN`'s.

    The state is flat, one `[batch, size]` tensor per entry of
    `state_size`: controller `h` and `c`, the memory (`slots * width`,
    starting at a small constant, which learns better than zeros or noise),
    the read and write weightings (`heads * slots`, one-hot, so that
    location addressing has a place to start from: the read heads on slot 0,
    the write heads on the last slot, so they write slot 0 first) and the
    read vectors.
    The heads' biases start them focused: the write head moving one slot a
    step, the read head staying where it is (see `build`).

    Args:
        memory_size: int. Memory slots (N).
        memory_width: int. Width of each slot (M).
        controller_units: int. Units of the LSTM controller.
        num_read_heads: int. Read heads.
        num_write_heads: int. Write heads.
        shift_range: int >= 0. Largest shift of location addressing; the
            heads shift by `-shift_range, ..., +shift_range` slots.

    Example:

    ```python
    cell = memzoo.layers.NTMCell(memory_size=8, memory_width=4,
                                 controller_units=16)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    x = np.random.normal(size=(2, 5, 3)).astype("float32")
    outputs, *state = rnn(x)                 # outputs: [2, 5, 16 + 4]
    more, *state = rnn(x, initial_state=state)   # carries on from the state
    ```
    """

    def __init__(
        self,
        memory_size,
        memory_width,
        controller_units,
        num_read_heads=1,
        num_write_heads=1,
        shift_range=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.memory_size = check_integer("memory_size", memory_size)
        self.memory_width = check_integer("memory_width", memory_width)
        self.controller_units = check_integer("controller_units", controller_units)
        self.num_read_heads = check_integer("num_read_heads", num_read_heads)
        self.num_write_heads = check_integer("num_write_heads", num_write_heads)
        self.shift_range = check_integer("shift_range", shift_range, minimum=0)
        self.controller = keras.layers.LSTMCell(
            self.controller_units, dtype=self.dtype_policy, name="controller"
        )
        # Per head: key, strength, gate, shifts, gamma (+ erase, add).
        addressing = self.memory_width + 2 * self.shift_range + 4
        self.read_parameters = keras.layers.Dense(
            self.num_read_heads * addressing, dtype=self.dtype_policy,
            name="read_parameters",
        )
        self.write_parameters = keras.layers.Dense(
            self.num_write_heads * (addressing + 2 * self.memory_width),
            dtype=self.dtype_policy, name="write_parameters",
        )

    @property
    def state_size(self):
        slots, width = self.memory_size, self.memory_width
        return [
            self.controller_units,
            self.controller_units,
            slots * width,
            self.num_read_heads * slots,
            self.num_write_heads * slots,
            self.num_read_heads * width,
        ]

    @property
    def output_size(self):
        return self.controller_units + self.num_read_heads * self.memory_width

    def build(self, input_shape):
        features = input_shape[-1]
        reads = self.num_read_heads * self.memory_width
        self.controller.build((input_shape[0], features + reads))
        self.read_parameters.build((input_shape[0], self.controller_units))
        self.write_parameters.build((input_shape[0], self.controller_units))
        # Zero biases start every head blurred (gate 0.5, shifts 1/3 each,
        # gamma 1.7): within a few steps each weighting is near uniform and
        # the memory an average that nothing can be looked up in; the copy
        # task was then learned by the controller alone (8 symbols of 8:
        # 0.29 after 2,000 steps) and associative recall stuck at 0.42. So
        # the heads start focused on location: both keep their last
        # weighting (gate bias -3), the write head moves one slot a step (a
        # circular buffer: every input gets its own slot) and the read head
        # stays put (shift 0). With it, 1.00 after 2,000 steps on 2 seeds.
        self.read_parameters.bias.assign(
            self._addressing_biases(self.num_read_heads, shift=0)
        )
        self.write_parameters.bias.assign(
            self._addressing_biases(
                self.num_write_heads, shift=1, extra=2 * self.memory_width
            )
        )
        self.built = True

    def _addressing_biases(self, heads, shift, extra=0):
        """Initial biases of `heads` heads: gate -3, +2 or +3 on `shift`, gamma."""
        width, shift_range = self.memory_width, self.shift_range
        per_head = np.zeros(width + 2 * shift_range + 4 + extra, "float32")
        per_head[width + 1] = -3.0
        if shift <= shift_range:
            per_head[width + 2 + shift_range + shift] = 3.0 if shift else 2.0
        if shift:
            # A slightly sharper moving head keeps its focus over the steps.
            per_head[width + 3 + 2 * shift_range] = 1.0
        return np.tile(per_head, heads)

    def get_initial_state(self, batch_size=None):
        dtype = self.compute_dtype
        slots, width = self.memory_size, self.memory_width

        def on_slot(slot, heads):
            focus = ops.one_hot(ops.full((batch_size, heads), slot, "int32"), slots)
            return ops.reshape(ops.cast(focus, dtype), (batch_size, heads * slots))

        zeros = ops.zeros((batch_size, self.controller_units), dtype)
        return [
            zeros,
            zeros,
            ops.full((batch_size, slots * width), 1e-6, dtype),
            on_slot(0, self.num_read_heads),
            # The write heads start on the last slot: they move one slot a
            # step before they write (see `build`), so the first input goes
            # to slot 0, where the read heads start (started on slot 0, it
            # wrote slot 1 first, one slot away from the read heads).
            on_slot(slots - 1, self.num_write_heads),
            ops.zeros((batch_size, self.num_read_heads * width), dtype),
        ]

    def _head_parameters(self, parameters, heads):
        """Splits `[batch, heads * size]` into the addressing parameters."""
        width, shifts = self.memory_width, 2 * self.shift_range + 1
        parameters = ops.reshape(parameters, (-1, heads, parameters.shape[-1] // heads))
        keys = ops.tanh(parameters[..., :width])
        strengths = ops.softplus(parameters[..., width])
        gates = ops.sigmoid(parameters[..., width + 1])
        shift = ops.softmax(parameters[..., width + 2 : width + 2 + shifts], axis=-1)
        gammas = 1.0 + ops.softplus(parameters[..., width + 2 + shifts])
        rest = parameters[..., width + 3 + shifts :]
        return (keys, strengths, gates, shift, gammas), rest

    def call(self, inputs, states, training=None):
        h, c, memory, read_weights, write_weights, reads = states
        slots, width = self.memory_size, self.memory_width
        memory = ops.reshape(memory, (-1, slots, width))
        read_weights = ops.reshape(read_weights, (-1, self.num_read_heads, slots))
        write_weights = ops.reshape(write_weights, (-1, self.num_write_heads, slots))

        controller_inputs = ops.concatenate([inputs, reads], axis=-1)
        output, (h, c) = self.controller(controller_inputs, [h, c], training=training)

        # Reads see the memory as the last step left it, and the writes
        # follow; reading first learned the copy task faster in our runs.
        addressing, _ = self._head_parameters(
            self.read_parameters(output), self.num_read_heads
        )
        read_weights = address(memory, read_weights, *addressing)
        reads = ops.reshape(
            read_memory(memory, read_weights), (-1, self.num_read_heads * width)
        )

        addressing, rest = self._head_parameters(
            self.write_parameters(output), self.num_write_heads
        )
        write_weights = address(memory, write_weights, *addressing)
        erase = ops.sigmoid(rest[..., :width])
        add = ops.tanh(rest[..., width:])
        memory = write_memory(memory, write_weights, erase, add)

        new_states = [
            h,
            c,
            ops.reshape(memory, (-1, slots * width)),
            ops.reshape(read_weights, (-1, self.num_read_heads * slots)),
            ops.reshape(write_weights, (-1, self.num_write_heads * slots)),
            reads,
        ]
        return ops.concatenate([output, reads], axis=-1), new_states

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "memory_size": self.memory_size,
                "memory_width": self.memory_width,
                "controller_units": self.controller_units,
                "num_read_heads": self.num_read_heads,
                "num_write_heads": self.num_write_heads,
                "shift_range": self.shift_range,
            }
        )
        return config
