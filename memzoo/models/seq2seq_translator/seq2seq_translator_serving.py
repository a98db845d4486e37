"""The serving signatures of a `Seq2SeqTranslator`."""

import numpy as np
import tensorflow as tf

from memzoo.models import serving


def add_serving_endpoints(model, archive, limits):
    """`serving_default` (source ids, target ids -> logits) and, with a
    tokenizer, `translate` (strings -> strings, greedy)."""
    def serving_default(source_ids, target_ids):
        source_ids = serving.checked_rows(source_ids, "source_ids", limits)
        target_ids = serving.checked_rows(target_ids, "target_ids", limits)
        return {"logits": serving.float32(model((source_ids, target_ids), training=False))}

    archive.add_endpoint(
        "serving_default", serving_default,
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids"),
                         tf.TensorSpec([None, None], tf.int32, name="target_ids")],
    )
    ones = np.ones([1, 8], np.int32)
    requests = {"serving_default": {"source_ids": ones, "target_ids": ones}}
    if model.tokenizer is not None:
        tokenizer = model._text_tokenizer()
        if hasattr(tokenizer, "module"):
            # A SentencePiece model is a tensorflow-text resource, which
            # the export must carry.
            archive.track(tokenizer.module)

        def translate(text, max_length):
            # Tokenized once more for the check, which decoding waits for.
            lengths = tokenizer.tokenize(text).row_lengths()
            text = serving.checked_texts(text, lengths, "text", limits)
            max_length = serving.after([serving.assert_in_range(
                max_length, 1, limits["max_new_tokens"], "max_length", "max_new_tokens",
            )], max_length)
            return {"translation": serving.valid_utf8(model.translate_text(text, 1, max_length))}

        archive.add_endpoint(
            "translate", translate,
            input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                             tf.TensorSpec([], tf.int32, name="max_length")],
        )
        requests["translate"] = {"text": np.array([b"Hello"]),
                                 "max_length": np.int32(8)}
    return requests
