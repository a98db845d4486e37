"""Presets of `Seq2SeqTranslator`: over bytes (both vocabularies 259) or
SentencePiece subwords."""

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
        # Subword tokens per sentence: longer pairs are left out.
        "sequence_length": 48,
        "description": (
            "A 256-unit LSTM on each side with Luong attention over 4,000 "
            "SentencePiece subwords shared by both languages (trained on the "
            "training split), for English to German "
            "('gettext_translations/en_to_de')."
        ),
        "config": {
            "source_vocab_size": 4000,
            "target_vocab_size": 4000,
            "embedding_dim": 64,
            "hidden_dim": 256,
            "attention": "luong",
            "num_layers": 1,
            "dropout": 0.1,
            "tokenizer": "sentence_piece",
        },
    },
}
