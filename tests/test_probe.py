"""`memzoo.probe`: how far back a model's carried state helps."""

import numpy as np
import pytest
import tensorflow as tf

import memzoo
from memzoo import probe

TEXT = ("Now is the winter of our discontent made glorious summer by this "
        "sun of York; and all the clouds that lour'd upon our house in the "
        "deep bosom of the ocean buried. ") * 12
SMALL = {"vocab_size": 259, "embedding_dim": 8, "hidden_dim": 16,
         "working_memory": 8, "num_layers": 2, "num_heads": 2,
         "tokenizer": "byte"}


def texts():
    return tf.data.Dataset.from_tensor_slices([TEXT, TEXT.upper()])


def test_stream_losses_are_those_of_one_call_with_resets_as_fresh_rows():
    tf.random.set_seed(0)
    model = memzoo.BigLanguageModel(long_short_term_memory=2, lstm_layers=1,
                                    segment_length=4, **SMALL)
    ids = np.random.default_rng(0).integers(0, 259, 97).astype("int32")
    # One stream read 16 tokens a call equals one call over all of it.
    logits = model(ids[None, :-1])
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(
        ids[None, 1:], logits).numpy()[0]
    np.testing.assert_allclose(
        probe.stream_losses(model, ids, None, chunk_length=16), expected,
        atol=1e-5)
    # Reset every 32 tokens: each stretch scored as a text of its own.
    stretches = model(ids[:-1].reshape(3, 32))
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(
        ids[1:].reshape(3, 32), stretches).numpy().reshape(-1)
    np.testing.assert_allclose(
        probe.stream_losses(model, ids, 32, chunk_length=8, rows=2),
        expected, atol=1e-5)
    with pytest.raises(ValueError, match="argument `reset_every`. Expected a "
                       "divisor of the 96 tokens"):
        probe.stream_losses(model, ids, 40)


def test_without_slots_or_lstm_nothing_is_gained_past_the_attentions_reach():
    # Two blocks with a window of 8 see 2 * 7 + 1 = 15 tokens back: after a
    # reset, a token 15 or more tokens on reads exactly what it would have
    # read with the state carried.
    tf.random.set_seed(1)
    model = memzoo.BigLanguageModel(long_short_term_memory=0, lstm_layers=0,
                                    **SMALL)
    result = probe.probe(model, texts(), max_tokens=2048,
                         reset_every=(8, 64, 256), chunk_length=64)
    edges, gain = result.bin_edges, np.asarray(result.gain)
    reach = np.asarray(edges[:-1]) >= 16
    np.testing.assert_allclose(gain[reach], 0.0, atol=1e-4)
    # Before it the state matters (an untrained model's gain has no sign).
    assert np.abs(gain[~reach]).max() > 0.01
    assert result.effective_memory_length is None or (
        result.effective_memory_length <= 16)
    assert result.tokens == 2048 and sorted(result.reset) == [8, 64, 256]


def test_an_lstm_carries_past_the_window_and_the_probe_sees_it():
    # Weights that make the LSTM remember: forget gates held open. The
    # state then changes every later prediction, so the probe finds no
    # end to the memory within the distances probed.
    tf.random.set_seed(2)
    model = memzoo.BigLanguageModel(long_short_term_memory=0, lstm_layers=1,
                                    **SMALL)
    model.build((None, None))
    for weight in model.backbone.weights:
        if "bias" in weight.path and "lstm" in weight.path:
            units = weight.shape[0] // 4
            bias = np.zeros(weight.shape, "float32")
            bias[units:2 * units] = 20.0  # The forget gate: ~1.
            weight.assign(bias)
    result = probe.probe(model, texts(), max_tokens=2048,
                         reset_every=(64, 256), chunk_length=64)
    assert np.abs(result.gain[-1]) > 1e-3
    # Its cost of resets shrinks as they become rarer.
    assert result.reset[64] - result.carried != result.reset[256] - result.carried


def test_summary_plot_and_bad_arguments(tmp_path):
    model = memzoo.BigLanguageModel(long_short_term_memory=2, lstm_layers=0,
                                    **SMALL)
    result = probe.probe(model, texts(), max_tokens=1024,
                         reset_every=(16, 128), chunk_length=64)
    lines = result.summary()
    hurts = result.gain_beyond < -2 * result.gain_beyond_error - 0.002
    assert "effective memory length" in lines[-1 - hurts]
    assert len(lines) == 2 + 2 + 1 + len(result.gain) + 1 + hurts
    result.plot(tmp_path / "probe.png")
    assert (tmp_path / "probe.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="argument `reset_every`. Expected "
                       "distances up to chunk_length=64 or multiples"):
        probe.probe(model, texts(), reset_every=(100,), chunk_length=64)
    with pytest.raises(ValueError, match="argument `reset_every`. Expected at "
                       "most half"):
        probe.probe(model, texts(), max_tokens=1024, reset_every=(1024,),
                    chunk_length=64)
    with pytest.raises(ValueError, match="argument `max_tokens`"):
        probe.probe(model, texts(), max_tokens=0)


def test_memzoo_probe_writes_its_table_plot_and_json(tmp_path, capsys):
    import json

    from memzoo import cli

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("train", "test"):
        (corpus / f"{name}.txt").write_text(TEXT * 10)
    model = memzoo.BigLanguageModel(long_short_term_memory=2, lstm_layers=1,
                                    **SMALL)
    model.build((None, None))
    model.save(tmp_path / "model.keras")
    output = tmp_path / "probe"
    assert cli.main(["probe", "--model", str(tmp_path / "model.keras"),
                     "--data", str(corpus / "*.txt"), "--max-tokens", "1024",
                     "--reset-every", "16", "256", "--output",
                     str(output)]) == 0
    printed = capsys.readouterr().out
    assert "effective memory length" in printed
    saved = json.loads((output / "probe.json").read_text())
    assert saved["tokens"] == 1024 and set(saved["reset"]) == {"16", "256"}
    assert f"{saved['carried']:.4f}" in printed
    assert (output / "probe.png").is_file()
    assert cli.main(["probe", "--model", str(tmp_path / "model.keras"),
                     "--data", str(corpus / "*.txt"), "--reset-every", "300",
                     "--output", str(output)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "argument `reset_every`" in error


def test_memzoo_eval_scores_the_same_tokens_as_one_stream(tmp_path):
    from memzoo import evaluation

    corpus = tmp_path / "play.txt"
    corpus.write_text(TEXT * 10)
    # A window of 1, no slots and no LSTM: each prediction depends on its
    # own token only, so windows and one stream score the same when they
    # read the same tokens.
    model = memzoo.BigLanguageModel(
        vocab_size=259, embedding_dim=8, hidden_dim=16, working_memory=1,
        long_short_term_memory=0, num_layers=1, num_heads=2, lstm_layers=0)
    scores = evaluation.evaluate(model, str(corpus), batch_size=2,
                                 sequence_length=16, max_batches=3)
    assert scores["stream_bits_per_character"] == pytest.approx(
        scores["bits_per_character"], abs=1e-5)
    # With state, the two differ.
    model = memzoo.BigLanguageModel(long_short_term_memory=2, lstm_layers=1,
                                    **dict(SMALL, tokenizer=None))
    scores = evaluation.evaluate(model, str(corpus), batch_size=2,
                                 sequence_length=16, max_batches=3)
    assert abs(scores["stream_bits_per_character"]
               - scores["bits_per_character"]) > 1e-4
