"""Tokenizers by name, or by the config a model keeps of them."""

from memzoo.data import sentence_piece
from memzoo.data.byte_tokenizer import ByteTokenizer

TOKENIZERS = {"byte": ByteTokenizer}


def get_tokenizer(identifier):
    """Returns a tokenizer for a name (`"byte"`), a config
    (`{"sentence_piece": base64}`, see `SentencePieceTokenizer.config`), an
    instance, or `None`."""
    if isinstance(identifier, dict):
        if set(identifier) != {"sentence_piece"}:
            raise ValueError(
                "Invalid value for argument `tokenizer`. Expected a name, an "
                'instance or {"sentence_piece": <a SentencePiece model in '
                f"base64>}}. Received: a dict with keys {sorted(identifier)}"
            )
        return sentence_piece.sentence_piece_from_config(
            identifier["sentence_piece"]
        )
    if identifier is None or not isinstance(identifier, str):
        return identifier
    if identifier not in TOKENIZERS:
        trained = (f" ({sentence_piece.TRAINED_ON_DATA!r} is trained by "
                   "`memzoo train` on the data, then kept in the config)"
                   if identifier == sentence_piece.TRAINED_ON_DATA else "")
        raise ValueError(
            "Invalid value for argument `tokenizer`. Expected one of "
            f"{sorted(TOKENIZERS)} or a tokenizer instance{trained}. "
            f"Received: tokenizer={identifier!r}"
        )
    return TOKENIZERS[identifier]()
