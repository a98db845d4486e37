"""`tf.data` pipelines from a data source to batches the zoo's models train on.

A *source* is one of:

* a tensorflow-datasets name (`"shakespeare_plays"`, `"tiny_shakespeare"`,
  `"gettext_translations/en_to_de"`, ...), loaded with `tfds.load` from
  `data_dir`; memzoo's own corpora build there offline on first use;
* a file path or glob, or a list of them: each file's first 90% of bytes is
  the `"train"` split and the rest the `"test"` split (`split=None`: all);
* a `tf.data.Dataset` of strings, of dicts of features or of tuples, used as
  it is (`split` does not apply).
"""

import glob
import os
import random
import tempfile

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

from memzoo.data.tokenizers import get_tokenizer
from memzoo.validation import check_integer

LOCAL_TEST_FRACTION = 0.1
_SNIFF_BYTES = 8192


def default_data_dir():
    """Where tensorflow-datasets data goes when no `data_dir` is given.

    `$TFDS_DATA_DIR` when set, else `memzoo_tfds` in the temporary directory:
    memzoo's own corpora rebuild from local files in seconds, and nothing is
    written into the home folder (tfds's own default).
    """
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(
        tempfile.gettempdir(), "memzoo_tfds"
    )


def text_dataset(source, split="train", data_dir=None, text_feature=None):
    """A `tf.data.Dataset` of `tf.string` texts from a source.

    Args:
        source: str, list of str or `tf.data.Dataset`. See the module
            docstring.
        split: str or `None`. A tfds split (`"train"`, `"test[:10%]"`, ...);
            for files `"train"`, `"test"` or `None`.
        data_dir: str or `None`. Where tensorflow-datasets keeps its data;
            `None` means `default_data_dir()`.
        text_feature: str or `None`. Which feature holds the text when the
            examples are dicts; by default the supervised input, else
            `"text"`, else the only text feature.

    Returns:
        A `tf.data.Dataset` of scalar `tf.string` tensors.
    """
    if isinstance(source, tf.data.Dataset):
        return _select_text(source, source.element_spec, text_feature)
    if _is_dataset_name(source):
        dataset, info = tfds.load(
            source, split=split, data_dir=data_dir or default_data_dir(),
            with_info=True,
        )
        if text_feature is None and info.supervised_keys:
            text_feature = info.supervised_keys[0]
        return _select_text(dataset, dataset.element_spec, text_feature)
    return _file_texts(_text_files(source), split)


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

    Returns:
        A `tf.data.Dataset` of `(int32 [batch, time], int64 [batch])`.
    """
    batch_size = check_integer("batch_size", batch_size)
    max_length = check_integer("max_length", max_length)
    tokenize = _tokenize_function(tokenizer)
    pairs = supervised_dataset(source, split, data_dir, text_feature, label_feature)
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
    pairs = supervised_dataset(source, split, data_dir)
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


def _is_dataset_name(source):
    if not isinstance(source, str) or glob.glob(source):
        return False
    name = source.split("/")[0].split(":")[0]
    return name in tfds.list_builders(with_community_datasets=False)


def _text_files(source):
    patterns = [source] if isinstance(source, (str, os.PathLike)) else source
    if not isinstance(patterns, (list, tuple)) or not patterns:
        raise ValueError(
            "Invalid value for argument `source`. Expected a tensorflow-datasets "
            "name, a file path or glob (or a non-empty list of them), or a "
            f"tf.data.Dataset. Received: source={source!r}"
        )
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.fspath(pattern)))
        if not matches:
            raise FileNotFoundError(
                f"No file matches {os.fspath(pattern)!r} in argument `source`, "
                "and it is not a registered tensorflow-datasets name either."
            )
        paths.extend(matches)
    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(
                f"Invalid value for argument `source`. Expected text files. "
                f"Received: {path!r}, which is not a file."
            )
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
        # Text in any encoding but UTF-16/32 has no NUL bytes; binaries do.
        if b"\0" in head:
            raise ValueError(
                f"Invalid value for argument `source`. Expected text files. "
                f"Received: {path!r}, which is binary (it holds NUL bytes)."
            )
    if not any(os.path.getsize(path) for path in paths):
        raise ValueError(
            "Invalid value for argument `source`. Expected text. Received: "
            f"only empty files ({', '.join(paths)})."
        )
    return paths


def _file_texts(paths, split):
    if split not in ("train", "test", None):
        raise ValueError(
            "Invalid value for argument `split`. Expected 'train', 'test' or "
            f"None for files. Received: split={split!r}"
        )

    def read(path):
        text = tf.io.read_file(path)
        if split is None:
            return text
        length = tf.strings.length(text)
        cut = tf.cast(
            tf.cast(length, tf.float64) * (1 - LOCAL_TEST_FRACTION), tf.int32
        )
        if split == "train":
            return tf.strings.substr(text, 0, cut)
        return tf.strings.substr(text, cut, length - cut)

    return tf.data.Dataset.from_tensor_slices(paths).map(read)


def _select_text(dataset, spec, text_feature):
    if isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string:
        return dataset
    if isinstance(spec, tuple) and spec and spec[0].dtype == tf.string:
        return dataset.map(lambda *example: example[0])
    if isinstance(spec, dict):
        key = text_feature or _default_text_feature(spec)
        if key in spec and spec[key].dtype == tf.string:
            return dataset.map(lambda example: example[key])
    raise ValueError(
        "Invalid value for argument `text_feature`. Expected the name of a "
        f"string feature of the examples {spec}. Received: "
        f"text_feature={text_feature!r}"
    )


def _default_text_feature(spec):
    texts = [key for key, value in spec.items() if value.dtype == tf.string]
    if "text" in texts or len(texts) != 1:
        return "text"
    return texts[0]


def supervised_dataset(source, split="train", data_dir=None, text_feature=None,
                       label_feature=None):
    """The `(input, target)` pairs of a labelled or translation source, unbatched.

    Args:
        source: a tfds name with supervised keys, or a `tf.data.Dataset` of
            pairs or of dicts (then name `text_feature` and `label_feature`).
        split: str. Which split of a tfds source.
        data_dir: str or `None`. Where tensorflow-datasets keeps its data.
        text_feature: str or `None`. The input feature of dict examples.
        label_feature: str or `None`. The target feature of dict examples.

    Returns:
        A `tf.data.Dataset` of pairs, e.g. `(text, label)` or
        `(source text, target text)`.

    Example:

    ```python
    pairs = tf.data.Dataset.from_tensor_slices((["good", "bad"], [1, 0]))
    text, label = next(iter(memzoo.data.supervised_dataset(pairs)))
    ```
    """
    if isinstance(source, tf.data.Dataset):
        dataset = source
    elif _is_dataset_name(source):
        as_supervised = text_feature is None and label_feature is None
        dataset = tfds.load(
            source,
            split=split,
            data_dir=data_dir or default_data_dir(),
            as_supervised=as_supervised,
        )
    else:
        raise ValueError(
            "Invalid value for argument `source`. Expected a registered "
            "tensorflow-datasets name with supervised keys or a "
            f"tf.data.Dataset of pairs. Received: source={source!r}"
        )
    spec = dataset.element_spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return dataset
    if isinstance(spec, dict) and text_feature in spec and label_feature in spec:
        return dataset.map(lambda e: (e[text_feature], e[label_feature]))
    raise ValueError(
        "Invalid value for argument `source`. Expected pairs, or dicts with "
        "`text_feature` and `label_feature` named. Received: examples "
        f"{spec} with text_feature={text_feature!r}, "
        f"label_feature={label_feature!r}"
    )


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
