import keras
import tensorflow as tf
from keras import ops

from memzoo.layers import StatefulLSTMStack
from memzoo.models import serving
from memzoo.models.presets import register_presets
from memzoo.models.sequence_regressor import sequence_regressor_data
from memzoo.models.sequence_regressor.sequence_regressor_presets import PRESETS
from memzoo.models.zoo_model import ZooModel
from memzoo.validation import check_integer
from memzoo.validation import check_rate


@keras.saving.register_keras_serializable(package="memzoo")
class SequenceRegressor(ZooModel):
    """An LSTM forecaster of numeric series, trained with mean squared error.

    The seeds' `LSTM(units=50)` regressor: stacked LSTMs read a window of a
    series `[batch, time, features]` and a dense head forecasts the next
    `output_steps` values of the target (all at once, from the last step).
    With `differencing=True` the LSTMs read the changes of the series from
    step to step and the head forecasts changes from the last value of
    feature 0 (the target), as ARIMA's d = 1 does: a trending series (CO2)
    leaves the range of levels it was trained on, its changes do not.

    With `stateful_carry=True` the LSTM state carries across calls, as in the
    language models: `get_initial_state(batch_size)`, then
    `model(window, initial_state=state, return_state=True)`, so a long series
    fed window by window gives the same forecast as one call over all of it,
    at a cost per call that does not grow with the history.

    Args:
        units: int. Units of each LSTM.
        num_layers: int. Number of stacked LSTMs.
        output_steps: int. How many future values are forecast.
        stateful_carry: bool. Whether calls take `initial_state=` and
            `return_state=True` (else each call starts from a zero state and
            those arguments are refused).
        differencing: bool. Read step-to-step changes and forecast changes
            from the last value of feature 0.
        dropout: float. Dropout rate after each LSTM.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Example:

    ```python
    model = memzoo.SequenceRegressor(units=16, output_steps=3)
    series = np.random.normal(size=(2, 30, 1)).astype("float32")
    forecast = model(series)                              # [2, 3]
    state = model.get_initial_state(2)
    _, state = model(series[:, :20], initial_state=state, return_state=True)
    same, state = model(series[:, 20:], initial_state=state, return_state=True)
    model.compile()                  # Adam, mean squared error, MAE
    model.fit(series, np.zeros((2, 3)), epochs=1, verbose=0)
    ```
    """

    def __init__(
        self,
        units=50,
        num_layers=1,
        output_steps=1,
        stateful_carry=True,
        differencing=False,
        dropout=0.0,
        **kwargs,
    ):
        units = check_integer("units", units)
        num_layers = check_integer("num_layers", num_layers)
        output_steps = check_integer("output_steps", output_steps)
        stateful_carry = _check_bool("stateful_carry", stateful_carry)
        differencing = _check_bool("differencing", differencing)
        dropout = check_rate("dropout", dropout)
        # Keras casts float inputs to the compute dtype: under mixed
        # precision that would round a series (and a carried last value) to
        # bfloat16 before `call` could keep its level in float32.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

        # === Layers ===
        self.lstm_stack = StatefulLSTMStack(
            units, num_layers, dropout, dtype=self.dtype_policy,
            name="lstm_stack",
        )
        self.head = keras.layers.Dense(
            output_steps, dtype=self.dtype_policy, name="head"
        )

        # === Config ===
        self.units = units
        self.num_layers = num_layers
        self.output_steps = output_steps
        self.stateful_carry = stateful_carry
        self.differencing = differencing
        self.dropout = dropout

    def compile_defaults(self):
        """Adam (learning rate 1e-3), mean squared error (the seeds' loss)
        and mean absolute error."""
        return {
            "optimizer": keras.optimizers.Adam(1e-3),
            "loss": keras.losses.MeanSquaredError(),
            "metrics": [keras.metrics.MeanAbsoluteError(name="mae")],
        }

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "Invalid value for argument `inputs`. Expected a series of "
                "shape [batch, time, features]. Received: shape="
                f"{tuple(input_shape)}"
            )
        self.features = input_shape[-1]
        self.lstm_stack.build(input_shape)
        self.head.build((input_shape[0], self.units))
        self.built = True

    def get_initial_state(self, batch_size):
        """The state at the start of a series: a dict of zero tensors.

        `lstm_<i>_h`, `lstm_<i>_c` `[batch, units]` and, with
        `differencing=True`, `previous` `[batch, 1 + features]` (the last
        step seen, so that the first change of the next call is exact).
        """
        self._check_carry("get_initial_state()")
        if self.differencing and not self.built:
            raise ValueError(
                "get_initial_state() needs the number of features. Expected "
                "a built model: call it on a series first, or `build((None, "
                "None, features))`. Received: an unbuilt model"
            )
        return self._zero_state(batch_size)

    def _zero_state(self, batch_size):
        state = self.lstm_stack.get_initial_state(batch_size)
        if self.differencing:
            state["previous"] = ops.zeros((batch_size, 1 + self.features))
        return state

    def call(self, inputs, initial_state=None, return_state=False,
             training=None):
        if initial_state is not None or return_state:
            self._check_carry("`initial_state` or `return_state`")
        inputs = ops.convert_to_tensor(inputs)
        if len(inputs.shape) != 3:
            raise ValueError(
                "Invalid value for argument `inputs`. Expected a series of "
                "shape [batch, time, features]. Received: shape="
                f"{tuple(inputs.shape)}"
            )
        inputs = ops.cast(inputs, "float32")
        batch_size = ops.shape(inputs)[0]
        if initial_state is None:
            initial_state = self._zero_state(batch_size)
        else:
            initial_state = self._check_state(initial_state, batch_size, "inputs")
        state = {}
        lstm_inputs = inputs
        if self.differencing:
            lstm_inputs, state["previous"] = self._differences(
                inputs, ops.cast(initial_state["previous"], "float32")
            )
        lstm_state = {
            name: value for name, value in initial_state.items()
            if name.startswith("lstm_")
        }
        sequence, lstm_state = self.lstm_stack(
            ops.cast(lstm_inputs, self.compute_dtype), lstm_state,
            training=training,
        )
        state.update(lstm_state)
        # Forecasts stay float32 under mixed precision: bfloat16 keeps only
        # 3 significant digits, too few for a series' level.
        forecast = ops.cast(self.head(sequence[:, -1]), "float32")
        if self.differencing:
            forecast = forecast + inputs[:, -1, :1]
        if return_state:
            return forecast, state
        return forecast

    def _differences(self, inputs, previous):
        """Step-to-step changes; the first against the previous call's last step.

        `previous` is `[batch, 1 + features]`: a flag, 1 once a step was seen,
        and that step's values. A stream's first step has no predecessor, so
        its change is 0.
        """
        seen, last = previous[:, :1], previous[:, 1:]
        first = inputs[:, 0]
        before_first = seen * last + (1.0 - seen) * first
        shifted = ops.concatenate(
            [before_first[:, None, :], inputs[:, :-1]], axis=1
        )
        new_previous = ops.concatenate(
            [ops.ones_like(seen), inputs[:, -1]], axis=-1
        )
        return inputs - shifted, new_previous

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_steps)

    # The window must be the one it was trained with: no default.
    default_sequence_length = None

    def input_signature(self):
        """A float32 series `[batch, time, features]` (one feature until
        built)."""
        features = getattr(self, "features", None) or 1
        return tf.TensorSpec([None, None, features], tf.float32, name="series")

    training_data = classmethod(sequence_regressor_data.training_data)

    evaluate_held_out = sequence_regressor_data.evaluate_held_out

    def add_serving_endpoints(self, archive, limits, tokenizer=None):
        """`serving_default` and `predict` (`series` -> `forecast`),
        `initial_state` and `step` (see `memzoo.export`)."""
        return serving.add_stateful_endpoints(
            archive, self, limits, outputs_name="forecast", predict_alias=True
        )

    def _check_carry(self, what):
        if not self.stateful_carry:
            raise ValueError(
                f"{what} needs a carried state. Expected "
                "`stateful_carry=True`. Received: stateful_carry=False"
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_layers": self.num_layers,
                "output_steps": self.output_steps,
                "stateful_carry": self.stateful_carry,
                "differencing": self.differencing,
                "dropout": self.dropout,
            }
        )
        return config


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected True or False. "
            f"Received: {name}={value!r}"
        )
    return value


register_presets(SequenceRegressor, PRESETS)
