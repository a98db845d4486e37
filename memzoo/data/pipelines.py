"""`tf.data` pipelines from a data source to batches the zoo's models train on.

The sources (tensorflow-datasets names, text files and globs, `tf.data`
datasets) are read by `memzoo.data.text_sources`; here their texts become
token ids, cut, padded, shuffled (seeded) and batched.
"""

import random

import keras
import tensorflow as tf

from memzoo.data.text_sources import supervised_dataset
from memzoo.data.text_sources import text_dataset
from memzoo.data.tokenizers import get_tokenizer
from memzoo.validation import check_integer


def language_model_dataset(
    source,
    sequence_length,
    batch_size,
    tokenizer="byte",
    split="train",
    shuffle=True,
    seed=None,
    data_dir=None,
    text_feature=None,
    shuffle_buffer_size=10_000,
    repeat=False,
):
    """Batches of `(inputs, targets)` for a causal language model.

    The texts are tokenized (each followed by the end-of-text id), streamed
    into one token sequence and cut into windows of `sequence_length`
    tokens, so no token is padding; the targets are the inputs shifted by one
    token, the last target being the first token of the next window.

    Shuffling (texts, then windows) is seeded: the same seed gives the same
    batches in the same order, every time the dataset is iterated, so a run
    can be repeated or resumed exactly. With `repeat=True` the stream goes
    on forever, each pass over the source in its own seeded order.

    Args:
        source: a tfds name, file paths or globs, or a `tf.data.Dataset` of
            strings (see `text_dataset`).
        sequence_length: int. Tokens per example, at least 2.
        batch_size: int. Examples per batch; the last partial batch is
            dropped so every batch has the static shape XLA wants.
        tokenizer: `"byte"` or an object with `tokenize(text) -> ids`.
        split: str or `None`. Which split of the source.
        shuffle: bool. Whether to shuffle.
        seed: int or `None`. The shuffling seed; `None` draws one.
        data_dir: str or `None`. Where tensorflow-datasets keeps its data.
        text_feature: str or `None`. The text feature of dict examples.
        shuffle_buffer_size: int. Windows held by the shuffle buffer.
        repeat: bool. Whether to repeat the source endlessly.

    Returns:
        A `tf.data.Dataset` of `(int32 [batch, time], int32 [batch, time])`.

    Example:

    ```python
    dataset = memzoo.data.language_model_dataset(
        tf.data.Dataset.from_tensor_slices(["To be, or not to be"] * 8),
        sequence_length=16, batch_size=4, seed=0)
    inputs, targets = next(iter(dataset))  # int32 [4, 16] each
    ```
    """
    sequence_length = check_integer("sequence_length", sequence_length, minimum=2)
    batch_size = check_integer("batch_size", batch_size)
    shuffle_buffer_size = check_integer("shuffle_buffer_size", shuffle_buffer_size)
    tokenize = _tokenize_function(tokenizer, add_end=True)
    texts = text_dataset(source, split, data_dir, text_feature)

    # Each window's last target is the next window's first token: carry the
    # previous window through a scan and emit it once its successor arrives.
    def pair_with_next(state, chunk):
        previous, has_previous = state
        targets = tf.concat([previous[1:], chunk[:1]], axis=0)
        return (chunk, True), (previous, targets, has_previous)

    def one_pass(pass_seed):
        shuffled = texts
        if shuffle:
            shuffled = _seeded_shuffle(texts, 1_000, pass_seed)
        chunks = shuffled.map(
            tokenize, num_parallel_calls=tf.data.AUTOTUNE
        ).rebatch(sequence_length, drop_remainder=True)
        initial = (tf.zeros([sequence_length], tf.int32), False)
        windows = (
            chunks.scan(initial, pair_with_next)
            .filter(lambda inputs, targets, valid: valid)
            .map(lambda inputs, targets, valid: (inputs, targets))
        )
        if shuffle:
            windows = _seeded_shuffle(windows, shuffle_buffer_size, pass_seed)
        return windows

    if seed is None:
        seed = random.randrange(2**31)
    if repeat:
        # Pass p is shuffled with its own seed, derived from `seed` and p.
        windows = tf.data.Dataset.counter().flat_map(
            lambda index: one_pass(tf.cast(seed, tf.int64) * 1_000_003 + index)
        )
    else:
        windows = one_pass(tf.constant(seed, tf.int64))
    return windows.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def classification_dataset(
    source,
    batch_size,
    tokenizer="byte",
    split="train",
    max_length=512,
    bucket_boundaries=None,
    shuffle=True,
    seed=None,
    data_dir=None,
    text_feature=None,
    label_feature=None,
    shuffle_buffer_size=10_000,
    validation_split=None,
    subset=None,
):
    """Batches of `(token ids, label)` for a text classifier.

    Texts are cut to `max_length` tokens and padded with id 0, either all to
    `max_length` (one static shape) or, with `bucket_boundaries`, to the
    smallest boundary that holds them, batched with texts of similar length
    (less padding, a few shapes).

    Args:
        source: a tfds name with supervised keys (`"tweet_sentiment"`,
            `"bbc_news"`, `"imdb_reviews"`, `"ag_news_subset"`, ...) or a
            `tf.data.Dataset` of `(text, label)` pairs or dicts.
        batch_size: int. Examples per batch (the remainder is dropped).
        tokenizer: `"byte"`, an object with `tokenize(text) -> ids`, or an
            adapted `keras.layers.TextVectorization` (see `word_vectorizer`).
        split: str. Which split of a tfds source.
        max_length: int. Tokens kept per text.
        bucket_boundaries: list of int or `None`. Padded lengths of the
            buckets, each below `max_length`.
        shuffle: bool. Whether to shuffle the examples (seeded).
        seed: int or `None`. The shuffling seed.
        data_dir: str or `None`. Where tensorflow-datasets keeps its data.
        text_feature: str or `None`. The text feature of dict examples.
        label_feature: str or `None`. The label feature of dict examples.
        shuffle_buffer_size: int. Examples held by the shuffle buffer.
        validation_split: float in (0, 1) or `None`. The fraction of the
            split's examples set aside for validation, chosen by a hash of
            the text (as in `hold_out`).
        subset: `"training"` or `"validation"`, with `validation_split`:
            which part of the split to batch.

    Returns:
        A `tf.data.Dataset` of `(int32 [batch, time], int64 [batch])`.
    """
    batch_size = check_integer("batch_size", batch_size)
    max_length = check_integer("max_length", max_length)
    tokenize = _tokenize_function(tokenizer)
    pairs = supervised_dataset(source, split, data_dir, text_feature, label_feature)
    pairs = hold_out(pairs, validation_split, subset)
    if shuffle:
        pairs = pairs.shuffle(shuffle_buffer_size, seed=seed)
    examples = pairs.map(
        lambda text, label: (tokenize(text)[:max_length], tf.cast(label, tf.int64)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return _pad_and_batch(
        examples, batch_size, max_length, bucket_boundaries,
        lambda ids, label: tf.size(ids),
    )


def translation_dataset(
    source,
    batch_size,
    tokenizer="byte",
    target_tokenizer=None,
    split="train",
    max_length=128,
    bucket_boundaries=None,
    shuffle=True,
    seed=None,
    data_dir=None,
    shuffle_buffer_size=10_000,
    validation_split=None,
    subset=None,
):
    """Batches of `(source ids, target ids)` for a sequence-to-sequence model.

    The target is wrapped in the tokenizer's start and end ids when it has
    them (`ByteTokenizer` does), so a decoder is trained on `target[:, :-1]`
    to predict `target[:, 1:]`. Pairs with a side longer than `max_length`
    tokens are left out rather than cut, since a cut translation no longer
    matches its source. Padding and bucketing as in `classification_dataset`.

    Args:
        source: a tfds translation name with supervised keys
            (`"gettext_translations/en_to_de"`,
            `"ted_hrlr_translate/pt_to_en"`, ...) or a `tf.data.Dataset` of
            `(source text, target text)` pairs.
        batch_size: int. Pairs per batch (the remainder is dropped).
        tokenizer: the source tokenizer (`"byte"` or as in
            `classification_dataset`).
        target_tokenizer: the target tokenizer; `None` uses `tokenizer`.
        split: str. Which split of a tfds source.
        max_length: int. The longest side kept, in tokens.
        bucket_boundaries: list of int or `None`. Padded lengths of buckets.
        shuffle: bool. Whether to shuffle the pairs (seeded).
        seed: int or `None`. The shuffling seed.
        data_dir: str or `None`. Where tensorflow-datasets keeps its data.
        shuffle_buffer_size: int. Pairs held by the shuffle buffer.
        validation_split: float in (0, 1) or `None`. The fraction of the
            split's pairs set aside for validation (see `hold_out`).
        subset: `"training"` or `"validation"`, with `validation_split`.

    Returns:
        A `tf.data.Dataset` of `(int32 [batch, source time],
        int32 [batch, target time])`.
    """
    batch_size = check_integer("batch_size", batch_size)
    max_length = check_integer("max_length", max_length)
    tokenize_source = _tokenize_function(tokenizer)
    tokenize_target = _tokenize_function(
        tokenizer if target_tokenizer is None else target_tokenizer,
        add_start=True,
        add_end=True,
    )
    pairs = hold_out(supervised_dataset(source, split, data_dir),
                     validation_split, subset)
    if shuffle:
        pairs = pairs.shuffle(shuffle_buffer_size, seed=seed)
    examples = pairs.map(
        lambda text, target: (tokenize_source(text), tokenize_target(target)),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).filter(
        lambda ids, target_ids: tf.maximum(tf.size(ids), tf.size(target_ids))
        <= max_length
    )
    return _pad_and_batch(
        examples,
        batch_size,
        max_length,
        bucket_boundaries,
        lambda ids, target_ids: tf.maximum(tf.size(ids), tf.size(target_ids)),
    )


def hold_out(pairs, validation_split, subset):
    """The training or validation part of a dataset of `(text, target)`
    pairs, as Keras's `validation_split` and `subset` carve a folder of
    files.

    A pair belongs to the validation part when a hash of its text falls in
    the first `validation_split` of the hash's range: the parts are the same
    on every read and every machine whatever the order of the pairs, and
    texts that repeat land in the same part. With `validation_split=None`,
    `pairs` are returned as they are.

    Args:
        pairs: a `tf.data.Dataset` of pairs whose first item is a string.
        validation_split: float in (0, 1) or `None`.
        subset: `"training"` or `"validation"`, with `validation_split`.

    Returns:
        A `tf.data.Dataset` of the chosen pairs.

    Example:

    ```python
    pairs = tf.data.Dataset.from_tensor_slices(
        ([f"text {i}" for i in range(100)], list(range(100))))
    validation = memzoo.data.hold_out(pairs, 0.2, "validation")
    training = memzoo.data.hold_out(pairs, 0.2, "training")
    # about 20 and 80 pairs, none in both
    ```
    """
    if validation_split is None:
        if subset is not None:
            raise ValueError(
                "Invalid value for argument `subset`. Expected None without "
                f"a validation_split. Received: subset={subset!r}"
            )
        return pairs
    if isinstance(validation_split, bool) or not (
            isinstance(validation_split, (int, float))
            and 0 < validation_split < 1):
        raise ValueError(
            "Invalid value for argument `validation_split`. Expected a "
            "fraction strictly between 0 and 1. Received: "
            f"validation_split={validation_split!r}"
        )
    if subset not in ("training", "validation"):
        raise ValueError(
            "Invalid value for argument `subset`. Expected 'training' or "
            f"'validation' with a validation_split. Received: subset={subset!r}"
        )
    buckets = 10_000
    threshold = round(validation_split * buckets)
    want_validation = subset == "validation"

    def in_subset(text, target):
        bucket = tf.strings.to_hash_bucket_fast(text, buckets)
        return tf.equal(bucket < threshold, want_validation)

    return pairs.filter(in_subset)


def finite_dataset(dataset, name):
    """Caches a small dataset and gives Keras its size, which it cannot know.

    (Keras warns that an input "ran out of data" when it has to find out.)
    """
    count = sum(1 for _ in dataset)
    if count == 0:
        raise ValueError(
            f"The {name} split holds no full batch. Expected at least "
            "batch_size * sequence_length + 1 tokens of held-out text: use "
            "more data or a smaller --batch-size or --sequence-length."
        )
    return dataset.cache().apply(tf.data.experimental.assert_cardinality(count))


def word_vectorizer(
    source, max_tokens=20_000, split="train", data_dir=None, text_feature=None,
    **kwargs
):
    """A `keras.layers.TextVectorization` adapted to a source's words.

    Word-level vocabularies for the classifiers are Keras's own layer, made
    here from the same sources as the pipelines. Extra keyword arguments go
    to `TextVectorization`; id 0 is padding and 1 the unknown word.
    """
    max_tokens = check_integer("max_tokens", max_tokens, minimum=3)
    texts = text_dataset(source, split, data_dir, text_feature)
    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens, **kwargs)
    vectorizer.adapt(texts.batch(1024))
    return vectorizer


def _seeded_shuffle(dataset, block_size, seed):
    """Shuffles each block of `block_size` elements by a stateless permutation.

    The order is a function of `seed` (an int64 tensor) and the block alone:
    `Dataset.shuffle` draws from a generator that advances with every new
    iterator (Keras makes an extra one under a tf.distribute strategy) and
    takes no seed tensor once a global seed of 0 is set.
    """

    def permute(index, block):
        size = tf.shape(tf.nest.flatten(block)[0])[0]
        keys = tf.random.stateless_uniform([size], seed=tf.stack([seed, index]))
        order = tf.argsort(keys)
        return tf.nest.map_structure(lambda part: tf.gather(part, order), block)

    return dataset.batch(block_size).enumerate().map(permute).unbatch()


def _tokenize_function(tokenizer, add_start=False, add_end=False):
    """A function `tf.string` scalar -> int32 ids `[time]`."""
    tokenizer = get_tokenizer(tokenizer)
    if isinstance(tokenizer, keras.layers.TextVectorization):
        # Keras's layer maps a batch of texts; its padding id 0 is ours.
        return lambda text: tf.cast(tokenizer(text[tf.newaxis])[0], tf.int32)
    if not hasattr(tokenizer, "tokenize"):
        raise ValueError(
            "Invalid value for argument `tokenizer`. Expected 'byte', an "
            "object with a `tokenize` method or a keras.layers."
            f"TextVectorization. Received: tokenizer={tokenizer!r}"
        )
    if not (add_start or add_end):
        return tokenizer.tokenize
    if hasattr(tokenizer, "start_id") and hasattr(tokenizer, "end_id"):
        return lambda text: tokenizer.tokenize(
            text, add_start=add_start, add_end=add_end
        )
    return tokenizer.tokenize


def _pad_and_batch(examples, batch_size, max_length, bucket_boundaries, length_of):
    if bucket_boundaries is None:
        padded = examples.padded_batch(
            batch_size,
            padded_shapes=tuple(
                [max_length] if spec.shape.rank else [] for spec in examples.element_spec
            ),
            drop_remainder=True,
        )
        return padded.prefetch(tf.data.AUTOTUNE)
    boundaries = sorted(int(b) for b in bucket_boundaries)
    if not boundaries or boundaries[0] < 1 or boundaries[-1] >= max_length:
        raise ValueError(
            "Invalid value for argument `bucket_boundaries`. Expected "
            f"increasing lengths in [1, max_length={max_length}). Received: "
            f"bucket_boundaries={bucket_boundaries!r}"
        )
    # `tf.data` pads a bucket to its upper boundary minus one.
    upper = [b + 1 for b in boundaries] + [max_length + 1]
    bucketed = examples.bucket_by_sequence_length(
        lambda *example: length_of(*example),
        bucket_boundaries=upper,
        bucket_batch_sizes=[batch_size] * (len(upper) + 1),
        pad_to_bucket_boundary=True,
        drop_remainder=True,
    )
    return bucketed.prefetch(tf.data.AUTOTUNE)
