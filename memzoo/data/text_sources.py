"""Data sources read as `tf.data` datasets of texts or of pairs.

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
import tempfile

import tensorflow as tf

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
        dataset, info = _tfds().load(
            source, split=split, data_dir=data_dir or default_data_dir(),
            with_info=True,
        )
        if text_feature is None and info.supervised_keys:
            text_feature = info.supervised_keys[0]
        return _select_text(dataset, dataset.element_spec, text_feature)
    return _file_texts(_text_files(source), split)


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
        dataset = _tfds().load(
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


def _tfds():
    """tensorflow-datasets, imported on first use (not by `import memzoo`),
    with memzoo's builders registered so that their names load."""
    import tensorflow_datasets as tfds

    import memzoo.data.datasets  # noqa: F401

    return tfds


def _is_dataset_name(source):
    if not isinstance(source, str) or glob.glob(source):
        return False
    name = source.split("/")[0].split(":")[0]
    return name in _tfds().list_builders(with_community_datasets=False)


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
