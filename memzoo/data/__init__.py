"""Tokenizers, local corpora and `tf.data` pipelines."""

from memzoo.data.byte_tokenizer import ByteTokenizer
from memzoo.data.language_modeling import language_modeling_dataset
from memzoo.data.text_corpora import default_corpus_files
from memzoo.data.text_corpora import python_stdlib_files
from memzoo.data.text_corpora import read_texts
from memzoo.data.text_corpora import shakespeare_files

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
