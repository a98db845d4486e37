"""`memzoo.long_range`: recall at a distance, and `memzoo eval --long-range`."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo
from memzoo import cli
from memzoo import long_range
from memzoo.data import tasks

TEXT = ("Now is the winter of our discontent made glorious summer by this "
        "sun of York; and all the clouds that lour'd upon our house in the "
        "deep bosom of the ocean buried. ") * 30
SMALL = {"vocab_size": 259, "embedding_dim": 8, "hidden_dim": 16,
         "working_memory": 5, "num_layers": 2, "num_heads": 2,
         "long_short_term_memory": 3, "segment_length": 4, "lstm_layers": 0,
         "tokenizer": "byte", "slot_memory": "associative"}


def texts():
    return tf.data.Dataset.from_tensor_slices([TEXT, TEXT.upper()])


def small_model(**overrides):
    keras.utils.set_random_seed(0)
    model = memzoo.BigLanguageModel(**{**SMALL, **overrides})
    model.build((None, None))
    return model


def test_pass_keys_lie_in_real_text_depth_and_distance_bytes_from_its_ends():
    text = np.asarray(memzoo.data.ByteTokenizer().encode(TEXT), np.int32)
    rng = np.random.default_rng(0)
    streams, answers = long_range._passkey_rows(rng, text, 7, 40, rows=6)
    tokenizer = memzoo.data.ByteTokenizer()
    keys = set()
    for stream, answer in zip(streams, answers):
        key = tokenizer.decode(answer.tolist())
        assert len(key) == 5 and key.isdigit()
        decoded = tokenizer.decode(stream.tolist())
        intro = long_range.PASSKEY_INTRO.format(key=key)
        before, after = decoded.split(intro)
        assert len(before) == 7 and before in TEXT
        between, question = after[:40], after[40:]
        assert between in TEXT
        assert question == long_range.PASSKEY_QUESTION + key[:-1]
        keys.add(key)
    assert len(keys) == 6


def test_answers_are_scored_as_one_call_scores_them_in_any_chunks():
    model = small_model()
    ids = np.random.default_rng(1).integers(3, 259, (3, 37)).astype("int32")
    answers = ids[:, -4:]
    logits = np.asarray(model(ids[:, :-1]))[:, -4:]
    expected_hits = logits.argmax(-1) == answers
    log_probabilities = np.asarray(tf.nn.log_softmax(logits))
    expected_losses = -np.take_along_axis(log_probabilities, answers[..., None], -1)[..., 0]
    for chunk_length in (36, 5):
        hits, losses, _ = long_range._score_answers(model, ids[:, :-1], answers,
                                                    chunk_length)
        np.testing.assert_array_equal(hits, expected_hits)
        np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-5)


def test_mqar_recall_is_the_weighted_accuracy_keras_measures():
    model = small_model()
    model.compile(weighted_metrics=["sparse_categorical_accuracy"])
    result = long_range.long_range(model, texts(), distances=(), gaps=(9,),
                                   trials=16, seed=3, chunk_length=7)
    batch = tasks.multi_query_associative_recall(16, num_pairs=4, gap=9,
                                                 seed=3, num_batches=1)
    accuracy = model.evaluate(batch, verbose=0, return_dict=True)
    assert result.recall == [pytest.approx(
        accuracy["sparse_categorical_accuracy"], abs=1e-6)]


def test_long_range_reports_each_distance_the_reach_and_the_slots():
    model = small_model()
    result = long_range.long_range(model, texts(), distances=(8, 30), trials=5,
                                   depths=(0, 11), gaps=(), chunk_length=16)
    assert result.reach == 2 * (5 - 1) + 1
    assert result.distances == [8, 30] and result.trials == 5
    for scores in (result.passkey_exact, result.passkey_digits):
        assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert all(bits > 0 for bits in result.passkey_bits)
    assert len(result.slot_cosine) == 2
    lines = result.summary()
    assert "attention reach: 9 tokens" in lines[0]
    assert any(line.endswith("(beyond the attention)") for line in lines)
    lstm = memzoo.LSTMLanguageModel(vocab_size=259, embedding_dim=8,
                                    hidden_dim=8, tokenizer="byte")
    assert long_range.attention_reach(lstm) is None


def test_slot_cosine_is_one_for_copies_and_zero_for_orthogonal_slots():
    copies = np.tile(np.arange(1.0, 5.0), (2, 3, 1))
    orthogonal = np.tile(np.eye(4)[:3], (2, 1, 1))
    state = {"block_0_keys": None, "block_0_slots": copies,
             "block_1_keys": None, "block_1_slots": orthogonal,
             "block_2_keys": None}
    np.testing.assert_allclose(long_range.slot_cosine(state), [1.0, 0.0],
                               atol=1e-12)


def test_long_range_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="argument `model`. Expected a byte-level"):
        long_range.long_range(memzoo.BigLanguageModel(
            vocab_size=100, embedding_dim=8, hidden_dim=16, working_memory=4,
            long_short_term_memory=0, num_heads=2))
    with pytest.raises(ValueError, match="argument `distances`. Expected the held-out"):
        long_range.long_range(small_model(), texts(), distances=(100_000,))


def test_memzoo_eval_long_range_prints_compares_and_writes(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("train", "test"):
        (corpus / f"{name}.txt").write_text(TEXT)
    small_model().save(tmp_path / "slots.keras")
    small_model(long_short_term_memory=0).save(tmp_path / "twin.keras")
    output = tmp_path / "long_range"
    arguments = ["eval", "--long-range", "--model", str(tmp_path / "slots.keras"),
                 "--data", str(corpus / "*.txt"), "--distances", "16", "64",
                 "--depths", "0", "9", "--gaps", "12", "--trials", "4", "--output", str(output)]
    assert cli.main([*arguments, "--compare", str(tmp_path / "twin.keras")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("attention reach: 9 tokens") == 2
    assert "slots' mean pairwise cosine per block" in printed
    saved = json.loads((output / "long_range.json").read_text())
    assert list(saved) == [str(tmp_path / "slots.keras"), str(tmp_path / "twin.keras")]
    assert saved[str(tmp_path / "slots.keras")]["distances"] == [16, 64]
    assert saved[str(tmp_path / "twin.keras")]["slot_cosine"] == []
    assert (output / "long_range.png").stat().st_size > 1000
    assert cli.main([*arguments[:-2], "--distances", "100000"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "argument `distances`" in error
