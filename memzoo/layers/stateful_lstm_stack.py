import keras
from keras import ops

from memzoo.layers.dropout import Dropout
from memzoo.validation import check_integer
from memzoo.validation import check_rate


@keras.saving.register_keras_serializable(package="memzoo")
class StatefulLSTMStack(keras.layers.Layer):
    """Stacked `keras.layers.LSTM`s whose (h, c) states carry across calls.

    The token-level recurrence of memzoo's language models: each LSTM returns
    its sequence and its final state, and the caller feeds that state to the
    next call, so a text read in chunks gives the same outputs as one call.
    Zero layers make it the identity.

    Args:
        units: int. Units of each LSTM.
        num_layers: int >= 0. Number of stacked LSTMs.
        dropout: float. Dropout rate after each LSTM.

    Call arguments:
        inputs: `[batch, time, features]`.
        state: dict from `get_initial_state()`: `lstm_<i>_h`, `lstm_<i>_c`.

    Returns:
        `(outputs [batch, time, units], new_state)`.

    Example:

    ```python
    stack = memzoo.layers.StatefulLSTMStack(units=6, num_layers=2)
    x = np.random.normal(size=(1, 10, 8)).astype("float32")
    state = stack.get_initial_state(1)
    first, state = stack(x[:, :4], state)
    rest, state = stack(x[:, 4:], state)   # continues where `first` ended
    ```
    """

    def __init__(self, units, num_layers, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        units = check_integer("units", units)
        num_layers = check_integer("num_layers", num_layers, minimum=0)
        dropout = check_rate("dropout", dropout)
        # Made here, not in build(), so that compile(jit_compile=True) can
        # switch them off cuDNN before the model is built.
        self.lstms = [
            keras.layers.LSTM(
                units, return_sequences=True, return_state=True,
                dtype=self.dtype_policy, name=f"lstm_{index}",
            )
            for index in range(num_layers)
        ]
        self.dropout_layer = Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout

    def build(self, input_shape):
        shape = input_shape
        for lstm in self.lstms:
            lstm.build(shape)
            shape = (*input_shape[:-1], self.units)
        self.built = True

    def get_initial_state(self, batch_size):
        zeros = ops.zeros((batch_size, self.units), self.compute_dtype)
        state = {}
        for index in range(self.num_layers):
            state[f"lstm_{index}_h"] = zeros
            state[f"lstm_{index}_c"] = zeros
        return state

    def call(self, inputs, state, training=None):
        outputs = inputs
        new_state = {}
        for index, lstm in enumerate(self.lstms):
            h, c = f"lstm_{index}_h", f"lstm_{index}_c"
            outputs, new_state[h], new_state[c] = lstm(
                outputs, initial_state=[state[h], state[c]], training=training
            )
            outputs = self.dropout_layer(outputs, training=training)
        return outputs, new_state

    def compute_output_shape(self, input_shape):
        if not self.num_layers:
            return input_shape
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
            }
        )
        return config
