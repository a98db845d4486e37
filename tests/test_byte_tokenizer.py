import numpy as np
import pytest
import tensorflow as tf

from memzoo.data import ByteTokenizer

TEXTS = ["", "hello", "héllo wörld", "大语言模型的工作记忆", "emoji 🦒\n\ttabs", "\x00nul"]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_exact(text):
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode(text)
    assert len(ids) == len(text.encode("utf-8"))
    assert tokenizer.decode(ids) == text


def test_ids_are_bytes_shifted_past_the_special_ids():
    tokenizer = ByteTokenizer()
    assert tokenizer.vocabulary_size == 259
    assert tokenizer.encode("A") == [ord("A") + 3]
    assert tokenizer.encode("é") == [0xC3 + 3, 0xA9 + 3]
    assert tokenizer.encode("a", add_start=True, add_end=True) == [1, 100, 2]


def test_batch_gives_ragged_ids_and_back():
    tokenizer = ByteTokenizer()
    ids = tokenizer.tokenize(tf.constant(TEXTS), add_start=True)
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.row_lengths().numpy().tolist() == [
        len(t.encode("utf-8")) + 1 for t in TEXTS
    ]
    texts = tokenizer.detokenize(ids).numpy()
    assert [t.decode("utf-8") for t in texts] == TEXTS


def test_detokenize_drops_special_and_unknown_ids():
    tokenizer = ByteTokenizer()
    ids = [1, 3 + ord("o"), 0, 3 + ord("k"), 2, 259, -5, 10_000]
    assert tokenizer.decode(ids) == "ok"


def test_invalid_utf8_never_crashes():
    tokenizer = ByteTokenizer()
    # A lone continuation byte and a truncated three-byte sequence.
    ids = [0x80 + 3, 3 + ord("a"), 0xE4 + 3, 0xBD + 3]
    assert tokenizer.detokenize(tf.constant(ids)).numpy() == b"\x80a\xe4\xbd"
    assert tokenizer.decode(ids) == "\ufffda\ufffd"


def test_runs_inside_tf_data():
    tokenizer = ByteTokenizer()
    dataset = tf.data.Dataset.from_tensor_slices(["ab", "语"]).map(tokenizer.tokenize)
    assert [x.numpy().tolist() for x in dataset] == [
        [100, 101], [0xE8 + 3, 0xAF + 3, 0xAD + 3]
    ]


def test_detokenize_padded_batch():
    tokenizer = ByteTokenizer()
    ids = tokenizer.tokenize(["abc", "d"]).to_tensor(tokenizer.padding_id)
    assert ids.shape == (2, 3)
    np.testing.assert_array_equal(tokenizer.detokenize(ids).numpy(), [b"abc", b"d"])
