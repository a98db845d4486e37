import numpy as np
import pytest

import memzoo
from tests.test_case import LanguageModelTests


class TestLSTMLanguageModel(LanguageModelTests):
    model_class = memzoo.LSTMLanguageModel
    init_kwargs = {
        "vocab_size": 259,
        "embedding_dim": 8,
        "hidden_dim": 16,
        "num_layers": 2,
        "tokenizer": "byte",
    }

    def test_carried_state(self):
        self.run_stateful_test(self.make_model(), self.token_ids(3, 24), chunks=[
            (1, 3, 7, 13), (12, 12), (24,), (1,) * 24])

    def test_generate_text(self):
        model = self.make_model()
        text = model.generate("To be, or", max_new_tokens=5, seed=0)
        assert isinstance(text, str)
        assert text.startswith("To be, or")
        texts = model.generate(["你好", "a"], max_new_tokens=3, seed=0)
        assert [t[: len(p)] for t, p in zip(texts, ["你好", "a"])] == ["你好", "a"]

    def test_generate_text_needs_a_tokenizer(self):
        model = self.make_model(tokenizer=None)
        with pytest.raises(ValueError, match="`prompt`.*no tokenizer"):
            model.generate("hello", max_new_tokens=2)

    def test_state_is_one_h_and_c_per_layer(self):
        model = self.make_model()
        state = model.get_initial_state(3)
        assert sorted(state) == ["lstm_0_c", "lstm_0_h", "lstm_1_c", "lstm_1_h"]
        assert all(tuple(v.shape) == (3, 16) for v in state.values())

    def test_xla_compile_builds_the_lstm_without_cudnn(self):
        model = self.make_model()
        model.compile(jit_compile=True)
        assert model.jit_compile is True
        assert all(layer.use_cudnn is False for layer in model.lstm_stack.lstms)

    @pytest.mark.parametrize(
        "argument, value, expected",
        [
            ("vocab_size", 0, "a strictly positive integer"),
            ("embedding_dim", 2.5, "a strictly positive integer"),
            ("hidden_dim", -1, "a strictly positive integer"),
            ("num_layers", 0, "a strictly positive integer"),
            ("dropout", 1.0, r"a rate in \[0, 1\)"),
            ("tokenizer", "words", "one of"),
        ],
    )
    def test_bad_arguments(self, argument, value, expected):
        with pytest.raises(ValueError, match=f"`{argument}`. Expected {expected}.*Received: {argument}="):
            self.make_model(**{argument: value})

    def test_vocabulary_smaller_than_the_tokenizers(self):
        with pytest.raises(ValueError, match="`vocab_size`. Expected at least 259"):
            self.make_model(vocab_size=100)

    def test_dropout_is_active_only_in_training(self):
        model = self.make_model(dropout=0.5)
        ids = self.token_ids()
        np.testing.assert_allclose(model(ids), model(ids, training=False))
        assert not np.allclose(model(ids, training=True), model(ids, training=False))
