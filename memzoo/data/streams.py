"""Batches for stateful training: each row of a batch goes on with the text
the same row of the previous batch was reading."""

import random

import tensorflow as tf

from memzoo.data.pipelines import _seeded_shuffle
from memzoo.data.pipelines import _tokenize_function
from memzoo.data.text_sources import text_dataset
from memzoo.validation import check_integer


# Stretches are shuffled in blocks of this many tokens (8 MiB of ids), as
# many as `language_model_dataset`'s default shuffle holds windows of 128 and
# more: shuffled in blocks of fewer, short stretches would fill a batch from
# one or two documents.
_TOKENS_SHUFFLED = 2**21


def language_model_streams(
    source,
    sequence_length,
    batch_size,
    tokenizer="byte",
    split="train",
    shuffle=True,
    seed=None,
    data_dir=None,
    text_feature=None,
    repeat=False,
    stream_length=None,
):
    """Batches of `({"token_ids", "reset"}, targets, sample_weight)` in which
    row r of batch t + 1 continues row r of batch t.

    The documents (in a seeded order when `shuffle`) are dealt to the
    `batch_size` rows in turn, and each row reads its documents one after
    the other, `sequence_length` tokens a batch: this is how a model that
    carries its state from batch to batch (truncated backpropagation through
    time, as Transformer-XL and Keras's `stateful=True` RNNs train) sees the
    text it will later read as one stream. A window never spans two
    documents: a document's last window is padded with id 0 and weight 0,
    and `reset` is true for a row whose window starts a document, where the
    state must start afresh. Targets are the inputs shifted by one token
    within the document (its last target is the end-of-text id).

    With `stream_length`, the documents are cut into stretches of that many
    tokens (a document's last one shorter), shuffled over the whole corpus
    and dealt to the rows a batch at a time: every row starts afresh
    (`reset`) each `stream_length / sequence_length` batches, on another
    part of the corpus. The state then reaches `stream_length` tokens back
    at most, the batches that follow one another are not all from the same
    few documents, and the model also learns to start from a fresh state.

    Without it, the rows advance together, so a pass ends when its shortest
    row does; with `repeat=True` each row goes on with its share of the next
    pass, shuffled with its own seed. The batches are a function of the seed.

    Args:
        source: a tfds name, file paths or globs, or a `tf.data.Dataset` of
            strings (see `text_dataset`).
        sequence_length: int. Tokens per window, at least 2.
        batch_size: int. Rows, each a stream. With fewer non-empty
            documents than rows, each document is cut into as many equal
            pieces as it takes to give every row one.
        tokenizer: `"byte"` or an object with `tokenize(text) -> ids`.
        split: str or `None`. Which split of the source.
        shuffle: bool. Whether to deal the documents in a seeded order.
        seed: int or `None`. The shuffling seed; `None` draws one.
        data_dir: str or `None`. Where tensorflow-datasets keeps its data.
        text_feature: str or `None`. The text feature of dict examples.
        repeat: bool. Whether the streams go on forever.
        stream_length: int or `None`. The most tokens read between two
            resets, a multiple of `sequence_length` (`None` or 0: a
            document, as `memzoo train --stream-length 0`).

    Returns:
        A `tf.data.Dataset` of `({"token_ids": int32 [batch, time],
        "reset": bool [batch]}, int32 [batch, time], float32 [batch, time])`.

    Example:

    ```python
    texts = tf.data.Dataset.from_tensor_slices(["To be, or not to be"] * 4)
    streams = memzoo.data.language_model_streams(
        texts, sequence_length=8, batch_size=2, seed=0)
    (inputs, targets, weights), = streams.take(1)  # row 0 and 1: two texts
    ```
    """
    sequence_length = check_integer("sequence_length", sequence_length, minimum=2)
    batch_size = check_integer("batch_size", batch_size)
    if stream_length is not None:
        stream_length = check_integer("stream_length", stream_length,
                                      minimum=0) or None
    if stream_length is not None:
        if stream_length % sequence_length:
            raise ValueError(
                "Invalid value for argument `stream_length`. Expected a "
                f"multiple of sequence_length={sequence_length}. Received: "
                f"stream_length={stream_length}"
            )
    tokenize = _tokenize_function(tokenizer, add_end=True)
    texts = text_dataset(source, split, data_dir, text_feature).filter(
        lambda text: tf.strings.length(text) > 0
    )
    # Every row needs a document in every pass (a repeated stream would
    # look for one forever): with fewer documents than rows, each is cut
    # into as many pieces as it takes, read as documents of their own.
    num_documents = int(texts.reduce(0, lambda count, _: count + 1))
    if num_documents == 0:
        raise ValueError(
            "Invalid value for argument `source`. Expected at least one "
            f"non-empty text in split {split!r}. Received: none"
        )
    pieces = -(-batch_size // num_documents)
    if seed is None:
        seed = random.randrange(2**31)

    def windows(ids):
        # Every token but the last (the end-of-text id) predicts the next.
        predicted = tf.shape(ids)[0] - 1
        count = (predicted + sequence_length - 1) // sequence_length
        ids = tf.pad(ids, [[0, count * sequence_length + 1 - tf.shape(ids)[0]]])
        shape = [count, sequence_length]
        weights = tf.cast(tf.range(count * sequence_length) < predicted,
                          tf.float32)
        return tf.data.Dataset.from_tensor_slices((
            {"token_ids": tf.reshape(ids[:-1], shape),
             "reset": tf.range(count) == 0},
            tf.reshape(ids[1:], shape),
            tf.reshape(weights, shape),
        ))

    def cut(ids):
        bounds = tf.range(pieces + 1) * tf.shape(ids)[0] // pieces
        return tf.data.Dataset.range(pieces).map(
            lambda piece: ids[bounds[piece]:bounds[piece + 1]]
        )

    def stretches(ids):
        # Stretch j predicts tokens j * stream_length + 1 onwards: it keeps
        # the token after its end as its last target.
        # Each is padded to one shape, with its length, to be shuffled.
        length = tf.shape(ids)[0]
        count = (length - 2) // stream_length + 1
        starts = tf.range(count) * stream_length
        ids = tf.pad(ids, [[0, count * stream_length + 1 - length]])
        return tf.data.Dataset.from_tensor_slices((
            tf.gather(ids, starts[:, None] + tf.range(stream_length + 1)),
            tf.minimum(stream_length + 1, length - starts),
        ))

    def unroll(ids, lengths):
        # A batch of stretches [batch, stream_length + 1] read as its
        # windows, one after the other; windows no row reaches are left out.
        count = stream_length // sequence_length
        inputs = tf.reshape(ids[:, :-1], [batch_size, count, sequence_length])
        targets = tf.reshape(ids[:, 1:], [batch_size, count, sequence_length])
        weights = tf.cast(
            tf.range(stream_length) < lengths[:, None] - 1, tf.float32)
        weights = tf.reshape(weights, [batch_size, count, sequence_length])
        return tf.data.Dataset.from_tensor_slices((
            {"token_ids": tf.transpose(inputs, [1, 0, 2]),
             "reset": tf.tile(tf.range(count)[:, None] == 0, [1, batch_size])},
            tf.transpose(targets, [1, 0, 2]),
            tf.transpose(weights, [1, 0, 2]),
        )).filter(lambda x, y, weights: tf.reduce_any(weights > 0))

    def stretch_batches(pass_seed):
        # The stretches of the whole corpus, shuffled, are dealt to the rows
        # a batch at a time: the rows reset together.
        documents = texts
        if shuffle:
            documents = _seeded_shuffle(documents, 1_000, pass_seed)
        documents = documents.map(tokenize).flat_map(stretches)
        if shuffle:
            documents = _seeded_shuffle(
                documents, max(batch_size, _TOKENS_SHUFFLED // stream_length),
                pass_seed)
        return documents.batch(batch_size, drop_remainder=True).flat_map(unroll)

    def row(index, pass_seed):
        documents = texts
        if shuffle:
            documents = _seeded_shuffle(documents, 1_000, pass_seed)
        documents = documents.map(tokenize)
        if pieces > 1:
            documents = documents.flat_map(cut)
        return documents.shard(batch_size, index).flat_map(windows)

    def passes(make):
        if not repeat:
            return make(tf.constant(seed, tf.int64))
        # Pass p is dealt in its own order, derived from `seed` and p.
        return tf.data.Dataset.counter().flat_map(
            lambda p: make(tf.cast(seed, tf.int64) * 1_000_003 + p)
        )

    if stream_length is not None:
        return passes(stretch_batches).prefetch(tf.data.AUTOTUNE)
    # Each row goes on with its share of the next pass.
    rows = tf.data.Dataset.zip(tuple(
        passes(lambda pass_seed, index=index: row(index, pass_seed))
        for index in range(batch_size)))
    return rows.map(
        lambda *rows: tf.nest.map_structure(lambda *parts: tf.stack(parts), *rows)
    ).prefetch(tf.data.AUTOTUNE)
