"""Tokenizers by name."""

from memzoo.data.byte_tokenizer import ByteTokenizer

TOKENIZERS = {"byte": ByteTokenizer}


def get_tokenizer(identifier):
    """Returns a tokenizer for a name (`"byte"`), an instance, or `None`."""
    if identifier is None or not isinstance(identifier, str):
        return identifier
    if identifier not in TOKENIZERS:
        raise ValueError(
            "Invalid value for argument `tokenizer`. Expected one of "
            f"{sorted(TOKENIZERS)} or a tokenizer instance. Received: "
            f"tokenizer={identifier!r}"
        )
    return TOKENIZERS[identifier]()
