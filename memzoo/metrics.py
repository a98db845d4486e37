"""Metrics of the zoo's language models."""

import math

import keras


@keras.saving.register_keras_serializable(package="memzoo")
def bits_per_character(y_true, y_pred):
    """Next-token cross-entropy of logits in bits per token.

    The presets read UTF-8 bytes, so for ASCII text (the default corpus) a
    token is a character; for other scripts this is bits per byte.
    """
    loss = keras.losses.sparse_categorical_crossentropy(
        y_true, y_pred, from_logits=True
    )
    return loss / math.log(2.0)


@keras.saving.register_keras_serializable(package="memzoo")
class BitsPerCharacter(keras.metrics.MeanMetricWrapper):
    """The mean of `bits_per_character` over the tokens seen.

    Example:

    ```python
    metric = memzoo.metrics.BitsPerCharacter()
    metric.update_state(np.array([[1]]), np.zeros([1, 1, 2]))
    metric.result()  # 1.0: a fair coin between two tokens
    ```
    """

    def __init__(self, name="bits_per_character", dtype=None):
        super().__init__(bits_per_character, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
