"""The serving signatures of a `TextClassifier`."""

import numpy as np
import tensorflow as tf

from memzoo.data import get_tokenizer
from memzoo.models import serving


def add_serving_endpoints(model, archive, limits):
    """`serving_default` (token ids -> probabilities) and, with a tokenizer,
    `classify` (strings -> probabilities)."""
    token_ids_spec = tf.TensorSpec([None, None], tf.int32, name="token_ids")
    archive.add_endpoint(
        "serving_default",
        lambda token_ids: {"probabilities": serving.float32(model(
            serving.checked_rows(token_ids, "token_ids", limits), training=False))},
        input_signature=[token_ids_spec],
    )
    requests = {"serving_default": {"token_ids": np.ones([1, 8], np.int32)}}
    if model.tokenizer is not None:
        if model.text_vectorization is not None:
            # The word lookup table is not one of the model's layers.
            if not model.text_vectorization.built:
                model.text_vectorization.build((None,))
            archive.track(model.text_vectorization)

        def classify(text):
            # Tokenized once more for the check, which `classify` (and its
            # model call) then waits for.
            if model.text_vectorization is None:
                lengths = get_tokenizer(model.tokenizer).tokenize(text).row_lengths()
            else:
                # The words the vocabulary looks up (0 pads the rows).
                lengths = tf.math.count_nonzero(model.text_vectorization(text), axis=1)
            text = serving.checked_texts(text, lengths, "text", limits)
            return {"probabilities": serving.float32(model.classify(text))}

        archive.add_endpoint(
            "classify", classify,
            input_signature=[tf.TensorSpec([None], tf.string, name="text")],
        )
        requests["classify"] = {"text": np.array([b"Hello"])}
    return requests
