"""Presets of `LSTMLanguageModel` (byte-level: vocabulary 259)."""

# The architecture of the presets trained on a corpus (shipped in
# saved_models/), the baselines of the BigLanguageModel ones.
_TRAINED_CONFIG = {
    "vocab_size": 259,
    "embedding_dim": 64,
    "hidden_dim": 256,
    "num_layers": 2,
    "tokenizer": "byte",
}

PRESETS = {
    "lstm_lm_tiny": {
        "description": (
            "One 64-unit LSTM over bytes; for tests, demos and smoke runs."
        ),
        "config": {
            "vocab_size": 259,
            "embedding_dim": 32,
            "hidden_dim": 64,
            "num_layers": 1,
            "tokenizer": "byte",
        },
    },
    "lstm_lm_small": {
        "description": (
            "Two 256-unit LSTMs over bytes; the baseline for the memory models."
        ),
        "config": {
            "vocab_size": 259,
            "embedding_dim": 64,
            "hidden_dim": 256,
            "num_layers": 2,
            "dropout": 0.1,
            "tokenizer": "byte",
        },
    },
    "lstm_lm_shakespeare": {
        "data": "shakespeare_plays",
        "sequence_length": 256,
        "description": (
            "Two 256-unit LSTMs over bytes, trained on Shakespeare's plays: "
            "the baseline of biglm_shakespeare, trained as long."
        ),
        "config": dict(_TRAINED_CONFIG),
    },
    "lstm_lm_python": {
        "data": "python_stdlib",
        "sequence_length": 256,
        "description": (
            "Two 256-unit LSTMs over bytes, trained on the Python standard "
            "library's source: the baseline of biglm_python, trained as long."
        ),
        "config": dict(_TRAINED_CONFIG),
    },
}
