import numpy as np
import tensorflow as tf


class ByteTokenizer:
    """Tokenizes text into its UTF-8 bytes, plus three special ids.

    Every string in every language is a sequence of bytes, so this tokenizer
    needs no vocabulary file and never meets an unknown token. Ids 0, 1 and 2
    are the padding, start-of-text and end-of-text tokens; byte `b` is id
    `b + 3`, so `vocabulary_size` is 259. Both directions are TensorFlow string
    ops, so they run inside `tf.data` and inside an exported SavedModel.

    Example:

    ```python
    tokenizer = memzoo.data.ByteTokenizer()
    ids = tokenizer.tokenize(["héllo", "你好"])    # tf.RaggedTensor of int32
    tokenizer.detokenize(ids)                      # [b"h\\xc3\\xa9llo", ...]
    tokenizer.decode(tokenizer.encode("你好"))      # "你好"
    ```
    """

    padding_id = 0
    start_id = 1
    end_id = 2
    num_special_ids = 3
    vocabulary_size = 256 + num_special_ids

    def __init__(self):
        # Id -> the byte it stands for; special ids stand for nothing.
        pieces = [b""] * self.num_special_ids + [bytes([b]) for b in range(256)]
        self._id_to_bytes = tf.constant(pieces)

    def tokenize(self, text, add_start=False, add_end=False):
        """`tf.string` scalar -> int32 ids `[time]`; `[batch]` -> ragged ids."""
        text = tf.convert_to_tensor(text, dtype=tf.string)
        pieces = tf.strings.bytes_split(text)
        if isinstance(pieces, tf.RaggedTensor):
            ids = pieces.with_flat_values(self._bytes_to_ids(pieces.flat_values))
        else:
            ids = self._bytes_to_ids(pieces)
        return with_special_ids(ids, self.start_id if add_start else None,
                                self.end_id if add_end else None)

    def detokenize(self, ids):
        """Ids `[..., time]` (dense or ragged) -> `tf.string` `[...]`.

        Special ids and ids outside the vocabulary are dropped. The bytes are
        returned as they are; invalid UTF-8 is left for the caller to handle.
        """
        ids = tf.cast(ids, tf.int32)
        known = (ids >= 0) & (ids < self.vocabulary_size)
        ids = tf.where(known, ids, tf.zeros_like(ids))
        pieces = tf.gather(self._id_to_bytes, ids)
        return tf.strings.reduce_join(pieces, axis=-1)

    def encode(self, text, add_start=False, add_end=False):
        """Python `str` -> list of int ids."""
        ids = self.tokenize(text, add_start=add_start, add_end=add_end)
        return ids.numpy().tolist()

    def decode(self, ids):
        """List of int ids -> Python `str` (invalid UTF-8 becomes U+FFFD)."""
        data = self.detokenize(tf.constant(list(ids), dtype=tf.int32))
        return data.numpy().decode("utf-8", errors="replace")

    def _bytes_to_ids(self, single_bytes):
        # `bytes_split` gives one-byte strings; `decode_raw` reads each as uint8.
        values = tf.io.decode_raw(single_bytes, tf.uint8)
        values = tf.reshape(values, tf.shape(single_bytes))
        return tf.cast(values, tf.int32) + self.num_special_ids


def with_special_ids(ids, start_id=None, end_id=None):
    """Ids `[time]` or ragged `[batch, (time)]` with `start_id` before and
    `end_id` after each row (`None`: not added)."""
    if start_id is None and end_id is None:
        return ids
    if isinstance(ids, tf.RaggedTensor):
        marker_shape = tf.stack([ids.nrows(), 1])
    else:
        marker_shape = [1]
    parts = [ids]
    if start_id is not None:
        parts.insert(0, tf.fill(marker_shape, np.int32(start_id)))
    if end_id is not None:
        parts.append(tf.fill(marker_shape, np.int32(end_id)))
    return tf.concat(parts, axis=-1)
