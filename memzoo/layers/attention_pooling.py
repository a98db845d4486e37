import keras
from keras import ops

from memzoo.validation import check_integer


@keras.saving.register_keras_serializable(package="memzoo")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector by learned attention over its steps.

    The attention of Yang et al. (2016), "Hierarchical Attention Networks for
    Document Classification": each step gets a score `v . tanh(W h + b)`, the
    scores of the unmasked steps are softmaxed (Keras's `Softmax` with a
    mask) and the steps are summed with those weights. Keras has no layer
    that pools with a learned query; `keras.layers.Attention` needs the query
    as an input.

    Args:
        units: int. Width of the scoring layer (`W`).

    Call arguments:
        inputs: `[batch, time, features]`.
        mask: bool `[batch, time]` or `None`: which steps take part.

    Returns:
        `[batch, features]`.

    Example:

    ```python
    pooling = memzoo.layers.attention_pooling.AttentionPooling(units=8)
    x = np.random.normal(size=(2, 5, 4)).astype("float32")
    pooled = pooling(x, mask=np.array([[1, 1, 1, 0, 0], [1] * 5], bool))  # [2, 4]
    ```
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_integer("units", units)
        self.supports_masking = True

    def build(self, input_shape):
        self.projection = keras.layers.Dense(
            self.units, activation="tanh", dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(input_shape)
        self.score = keras.layers.Dense(
            1, use_bias=False, dtype=self.dtype_policy, name="score"
        )
        self.score.build((*input_shape[:-1], self.units))
        # Softmax in float32, whatever the policy, for a stable normalization.
        self.softmax = keras.layers.Softmax(axis=-1, dtype="float32")
        self.built = True

    def call(self, inputs, mask=None):
        scores = ops.squeeze(self.score(self.projection(inputs)), axis=-1)
        weights = self.softmax(ops.cast(scores, "float32"), mask=mask)
        if mask is not None:
            # A row with no unmasked step pools to zeros, not to a mean.
            weights = weights * ops.cast(mask, "float32")
        return ops.einsum(
            "bt,btf->bf", ops.cast(weights, self.compute_dtype), inputs
        )

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
