"""Presets of `Seq2SeqTranslator` (byte-level: both vocabularies 259)."""

PRESETS = {
    "translator_tiny": {
        "data": "gettext_translations/en_to_de",
        # Bytes per sentence: longer pairs are left out.
        "sequence_length": 64,
        "description": (
            "A 32-unit LSTM encoder-decoder with Luong attention over bytes; "
            "for tests, demos and smoke runs."
        ),
        "config": {
            "source_vocab_size": 259,
            "target_vocab_size": 259,
            "embedding_dim": 16,
            "hidden_dim": 32,
            "attention": "luong",
            "num_layers": 1,
            "tokenizer": "byte",
        },
    },
    "translator_en_de": {
        "data": "gettext_translations/en_to_de",
        # Bytes per sentence: longer pairs are left out.
        "sequence_length": 64,
        "description": (
            "Two 256-unit LSTMs on each side with Luong attention over bytes, "
            "for English to German ('gettext_translations/en_to_de')."
        ),
        "config": {
            "source_vocab_size": 259,
            "target_vocab_size": 259,
            "embedding_dim": 64,
            "hidden_dim": 256,
            "attention": "luong",
            "num_layers": 2,
            "dropout": 0.1,
            "tokenizer": "byte",
        },
    },
}
