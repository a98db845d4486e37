import math

import keras
from keras import ops

from memzoo.data.byte_tokenizer import ByteTokenizer
from memzoo.layers import NTMCell
from memzoo.models.neural_turing_machine.neural_turing_machine_presets import PRESETS
from memzoo.models.presets import register_presets
from memzoo.models.next_token_model import NextTokenModel
from memzoo.validation import check_integer


@keras.saving.register_keras_serializable(package="memzoo")
class NeuralTuringMachine(NextTokenModel):
    """A Neural Turing Machine over token ids (Graves et al., 2014).

    An LSTM controller with an external memory of `memory_size` slots of
    `memory_width` numbers, read and written by heads that address it by
    content (cosine similarity to a key) and by location (interpolation with
    the last weighting, a circular shift, sharpening); writes erase then add.
    Token ids are embedded, the `memzoo.layers.NTMCell` runs over them as a
    `keras.layers.RNN`, and a dense head turns the controller output and the
    read vectors into next-token logits. So it trains on the memory tasks of
    `memzoo.data.tasks` (`copy`, `associative_recall`, ...) as they are:
    `(inputs, targets, sample_weight)` of byte ids, with the accuracy counted
    on the answer tokens. On `copy` of 8 symbols of 16, trained on copies
    of 1 to 8 symbols (`min_length=1`, Graves et al.'s curriculum) with
    Adam at 5e-3, 8 slots of width 8 and an 8-unit controller reach 98.6-100%
    answer accuracy within 750-1,250 steps; the same machine trained as
    long with 1 slot is at 19-28% (chance 6%). On `associative_recall` of
    2 pairs the `ntm_associative_recall` preset reaches 97.0-100% (chance
    10%) after 2,000 steps of `memzoo train` at batch size 64 and learning
    rate 1e-2. (Seeds 0-4, with oneDNN on and off and with AVX2 kernels:
    the tests' `make test-seeds`.)

    The state (controller, memory, head weightings, reads) carries across
    calls: `get_initial_state(batch_size)`, then
    `model(ids, initial_state=state, return_state=True)`, so a sequence fed in
    chunks gives the logits of one call. The recurrence runs in float32
    under mixed precision: a memory accumulates writes over many steps, and
    cosine similarities and sharpening exponents are sensitive to rounding.

    Args:
        memory_size: int. Memory slots (N).
        memory_width: int. Width of each slot (M).
        controller_units: int. Units of the LSTM controller.
        num_read_heads: int. Read heads.
        num_write_heads: int. Write heads.
        shift_range: int >= 0. Largest shift of location addressing.
        vocab_size: int. Size of the token vocabulary; the default fits the
            byte ids of `memzoo.data.tasks`.
        embedding_dim: int. Width of the token embeddings.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Example:

    ```python
    model = memzoo.NeuralTuringMachine(
        memory_size=8, memory_width=6, controller_units=16
    )
    data = memzoo.data.tasks.copy(4, length=3, distance=0, vocabulary="abcd",
                                  seed=0)
    model.compile()         # Adam with gradient clipping, answer accuracy
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)
    inputs, targets, weights = next(iter(data))
    logits = model(inputs)                     # [4, 6, 259]
    state = model.get_initial_state(4)         # memory: [4, 8, 6]
    first, state = model(inputs[:, :2], initial_state=state, return_state=True)
    rest, state = model(inputs[:, 2:], initial_state=state, return_state=True)
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
        vocab_size=ByteTokenizer.vocabulary_size,
        embedding_dim=16,
        **kwargs,
    ):
        memory_size = check_integer("memory_size", memory_size)
        memory_width = check_integer("memory_width", memory_width)
        controller_units = check_integer("controller_units", controller_units)
        num_read_heads = check_integer("num_read_heads", num_read_heads)
        num_write_heads = check_integer("num_write_heads", num_write_heads)
        shift_range = check_integer("shift_range", shift_range, minimum=0)
        vocab_size = check_integer("vocab_size", vocab_size)
        embedding_dim = check_integer("embedding_dim", embedding_dim)
        # Keras casts float inputs to the compute dtype: under mixed
        # precision that would round the carried float32 memory and heads to
        # bfloat16 at every call, and a text fed in chunks would drift from
        # one call over it.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

        # === Layers ===
        # Unit-variance embeddings, the scale of the paper's bit-vector
        # inputs. Keras's default, uniform in +-0.05, left every write and
        # read near 0.01: the copy task then sat at chance for its first
        # 1,000 steps, and 1 of 4 seeds had not learned it after 2,000.
        self.token_embedding = keras.layers.Embedding(
            vocab_size, embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
            dtype=self.dtype_policy, name="token_embedding",
        )
        cell = NTMCell(
            memory_size, memory_width, controller_units, num_read_heads,
            num_write_heads, shift_range, dtype="float32", name="ntm_cell",
        )
        self.rnn = keras.layers.RNN(
            cell, return_sequences=True, return_state=True,
            dtype="float32", name="rnn",
        )
        self.head = keras.layers.Dense(
            vocab_size, dtype=self.dtype_policy, name="head"
        )

        # === Config ===
        self.memory_size = memory_size
        self.memory_width = memory_width
        self.controller_units = controller_units
        self.num_read_heads = num_read_heads
        self.num_write_heads = num_write_heads
        self.shift_range = shift_range
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim

    def compile_defaults(self):
        """Adam (learning rate 3e-3) with the gradients clipped to a global
        norm of 10 (the paper clips too: NTM training is prone to gradient
        spikes), sparse categorical cross-entropy on logits, and accuracy
        as a weighted metric, so that the tasks' `sample_weight` makes it
        the accuracy on the answer tokens. The loss is weighted too but
        divided by all the tokens: that trained the copy task more reliably
        than the mean over the answer (2,000 steps, 4 seeds: 0.91-1.00
        against 0.25-0.87; Adam is indifferent to the loss's scale, so
        presumably through the clipping)."""
        return {
            "optimizer": keras.optimizers.Adam(3e-3, global_clipnorm=10.0),
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": None,
            "weighted_metrics": [
                keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            ],
        }

    @property
    def cell(self):
        """The `memzoo.layers.NTMCell` that the RNN runs."""
        return self.rnn.cell

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.rnn.build((*input_shape, self.embedding_dim))
        self.head.build((*input_shape, self.cell.output_size))
        self.built = True

    def get_initial_state(self, batch_size):
        """The state before any token, a dict of float32 tensors.

        `controller_h`, `controller_c`: `[batch, controller_units]`;
        `memory`: `[batch, memory_size, memory_width]`; `read_weights`,
        `write_weights`: `[batch, heads, memory_size]`; `reads`:
        `[batch, num_read_heads, memory_width]`.
        """
        return self._state_dict(self.cell.get_initial_state(batch_size))

    def call(self, token_ids, initial_state=None, return_state=False,
             training=None):
        token_ids = self._check_token_ids(token_ids)
        batch_size = ops.shape(token_ids)[0]
        if initial_state is None:
            states = self.cell.get_initial_state(batch_size)
        else:
            states = self._state_list(
                self._check_state(initial_state, batch_size)
            )
        x = self.token_embedding(token_ids)
        outputs, *states = self.rnn(x, initial_state=states, training=training)
        # Logits stay float32 under mixed precision, for a stable softmax.
        logits = ops.cast(self.head(outputs), "float32")
        if return_state:
            return logits, self._state_dict(states)
        return logits

    def _state_shapes(self):
        """Each state entry's shape after the batch axis, in the cell's order."""
        slots, width = self.memory_size, self.memory_width
        return {
            "controller_h": (self.controller_units,),
            "controller_c": (self.controller_units,),
            "memory": (slots, width),
            "read_weights": (self.num_read_heads, slots),
            "write_weights": (self.num_write_heads, slots),
            "reads": (self.num_read_heads, width),
        }

    def _state_dict(self, states):
        return {
            name: ops.reshape(value, (-1, *shape))
            for (name, shape), value in zip(self._state_shapes().items(), states)
        }

    def _state_list(self, state):
        return [
            ops.reshape(ops.cast(state[name], "float32"), (-1, math.prod(shape)))
            for name, shape in self._state_shapes().items()
        ]

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.vocab_size)

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
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
            }
        )
        return config


register_presets(NeuralTuringMachine, PRESETS)
