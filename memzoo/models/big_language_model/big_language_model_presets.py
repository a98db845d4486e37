"""Presets of `BigLanguageModel` (byte-level: vocabulary 259)."""

# The architecture of the presets trained on a corpus (shipped in
# saved_models/): chosen by benchmarks/memory_study.py.
_TRAINED_CONFIG = {
    "vocab_size": 259,
    "embedding_dim": 128,
    "hidden_dim": 128,
    "working_memory": 128,
    "long_short_term_memory": 16,
    "num_layers": 4,
    "num_heads": 4,
    "lstm_layers": 0,
    "tokenizer": "byte",
}

PRESETS = {
    "biglm_tiny": {
        "description": (
            "Width 64, 2 blocks, window 32, 8 slots, one token LSTM; for "
            "tests and demos."
        ),
        "config": {
            "vocab_size": 259,
            "embedding_dim": 32,
            "hidden_dim": 64,
            "working_memory": 32,
            "long_short_term_memory": 8,
            "num_layers": 2,
            "num_heads": 4,
            "lstm_layers": 1,
            "tokenizer": "byte",
        },
    },
    "biglm_small": {
        "description": (
            "Width 128, 2 blocks, window 256, 16 slots, one token LSTM."
        ),
        "config": {
            "vocab_size": 259,
            "embedding_dim": 128,
            "hidden_dim": 128,
            "working_memory": 256,
            "long_short_term_memory": 16,
            "num_layers": 2,
            "num_heads": 4,
            "lstm_layers": 1,
            "dropout": 0.1,
            "tokenizer": "byte",
        },
    },
    "biglm_base": {
        "description": (
            "Width 256, 4 blocks, window 512, 32 slots, one token LSTM."
        ),
        "config": {
            "vocab_size": 259,
            "embedding_dim": 256,
            "hidden_dim": 256,
            "working_memory": 512,
            "long_short_term_memory": 32,
            "num_layers": 4,
            "num_heads": 8,
            "lstm_layers": 1,
            "dropout": 0.1,
            "tokenizer": "byte",
        },
    },
    "biglm_shakespeare": {
        "data": "shakespeare_plays",
        "sequence_length": 256,
        "description": (
            "Width 128, 4 blocks, window 128, 16 slots, no token LSTM; "
            "trained on Shakespeare's plays (shakespeare_plays)."
        ),
        "config": dict(_TRAINED_CONFIG),
    },
    "biglm_python": {
        "data": "python_stdlib",
        "sequence_length": 256,
        "description": (
            "Width 128, 4 blocks, window 128, 16 slots, no token LSTM; "
            "trained on the Python standard library's source (python_stdlib)."
        ),
        "config": dict(_TRAINED_CONFIG),
    },
}
