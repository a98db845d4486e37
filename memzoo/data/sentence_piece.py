"""Subword tokens: a SentencePiece model, trained on a data source's texts
and run by tensorflow-text, so that it runs inside `tf.data` and inside an
exported SavedModel as `ByteTokenizer` does."""

import base64
import functools
import hashlib
import io

import tensorflow as tf

from memzoo.data.byte_tokenizer import with_special_ids
from memzoo.validation import check_integer

# The ids `ByteTokenizer` gives its special tokens, which the zoo's
# translators and pipelines expect; the unknown id follows them (with byte
# fallback, no text is unknown).
PADDING_ID, START_ID, END_ID, UNKNOWN_ID = 0, 1, 2, 3
# A config's `tokenizer` that asks `memzoo train` for a SentencePiece model
# trained on the training split.
TRAINED_ON_DATA = "sentence_piece"


class SentencePieceTokenizer:
    """Tokenizes text into subwords of a SentencePiece model.

    A unigram SentencePiece model (Kudo and Richardson, 2018) splits text
    into pieces learned from a corpus: frequent words are one token, rare
    ones a few, and bytes outside its pieces fall back to byte tokens, so no
    text is unknown and `detokenize(tokenize(text)) == text`. Its sequences
    are 3-5 times shorter than `ByteTokenizer`'s. Ids 0, 1 and 2 are the
    padding, start and end tokens, as in `ByteTokenizer`.

    tensorflow-text runs the model (keras-hub's `SentencePieceTokenizer`
    does the same); the model itself is the serialized proto the
    `sentencepiece` package trains (`train_sentence_piece`). In a config it
    is `{"sentence_piece": <the proto in base64>}` (`config()`).

    Args:
        proto: bytes. A serialized SentencePiece model whose padding, start,
            end and unknown ids are 0, 1, 2 and 3, as `train_sentence_piece`
            makes them.

    Example:

    ```python
    texts = ["Open the file", "Save the file", "Close the window"] * 50
    tokenizer = memzoo.data.SentencePieceTokenizer(
        memzoo.data.train_sentence_piece(texts, vocabulary_size=300))
    ids = tokenizer.tokenize(["Open the window"])  # tf.RaggedTensor of int32
    tokenizer.detokenize(ids)                       # [b"Open the window"]
    ```
    """

    padding_id = PADDING_ID
    start_id = START_ID
    end_id = END_ID

    def __init__(self, proto):
        # Imported here: tensorflow-text loads its op libraries on import,
        # which `import memzoo` should not pay for.
        import tensorflow_text

        if not isinstance(proto, bytes):
            raise ValueError(
                "Invalid value for argument `proto`. Expected the bytes of a "
                "serialized SentencePiece model. Received: "
                f"{type(proto).__name__}"
            )
        self.proto = proto
        try:
            self.module = tensorflow_text.SentencepieceTokenizer(
                model=proto, out_type=tf.int32
            )
            self.module._model_resource = _SharedModel(proto)
            ids = [self.module.string_to_id(piece).numpy()
                   for piece in ("<pad>", "<s>", "</s>", "<unk>")]
            self.vocabulary_size = int(self.module.vocab_size().numpy())
        except tf.errors.OpError as error:
            raise ValueError(
                "Invalid value for argument `proto`. Expected a serialized "
                f"SentencePiece model. Received: {len(proto)} bytes that are "
                f"not one ({error.message.splitlines()[0]})"
            ) from None
        if ids != [PADDING_ID, START_ID, END_ID, UNKNOWN_ID]:
            raise ValueError(
                "Invalid value for argument `proto`. Expected a SentencePiece "
                "model with <pad>, <s>, </s> and <unk> at ids 0-3, as "
                "`memzoo.data.train_sentence_piece` trains it. Received: a "
                f"model with them at ids {ids}"
            )

    def tokenize(self, text, add_start=False, add_end=False):
        """`tf.string` scalar -> int32 ids `[time]`; `[batch]` -> ragged ids."""
        ids = self.module.tokenize(tf.convert_to_tensor(text, dtype=tf.string))
        return with_special_ids(ids, START_ID if add_start else None,
                                END_ID if add_end else None)

    def detokenize(self, ids):
        """Ids `[..., time]` (dense or ragged) -> `tf.string` `[...]`.

        Padding, start and end ids stand for nothing, and ids outside the
        vocabulary are dropped.
        """
        ids = tf.cast(ids, tf.int32)
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        keep = (ids >= UNKNOWN_ID) & (ids < self.vocabulary_size)
        return self.module.detokenize(tf.ragged.boolean_mask(ids, keep))

    def encode(self, text, add_start=False, add_end=False):
        """Python `str` -> list of int ids."""
        return self.tokenize(text, add_start, add_end).numpy().tolist()

    def decode(self, ids):
        """List of int ids -> Python `str`."""
        text = self.detokenize(tf.constant([list(ids)], dtype=tf.int32))[0]
        return text.numpy().decode("utf-8", errors="replace")

    def config(self):
        """What a model's config keeps of it: `{"sentence_piece": base64}`."""
        return {"sentence_piece": base64.b64encode(self.proto).decode("ascii")}


class _SharedModel(tf.saved_model.experimental.TrackableResource):
    """The SentencePiece model as a TensorFlow resource of a shared name.

    tensorflow-text's own is private to the kernel that made it (its
    b/318839908), so TensorFlow deletes it when it clears its kernel cache,
    as `keras.utils.set_random_seed` does: every dataset and function that
    held it then fails ("Resource ... does not exist"). A shared name, fixed
    by the model's hash, keeps it in the resource manager instead; the
    SavedModel still carries it, made again on loading.
    """

    def __init__(self, proto):
        super().__init__()
        self._proto = proto
        digest = hashlib.sha256(proto).hexdigest()[:16]
        self._shared_name = f"memzoo_sentence_piece_{digest}"
        _ = self.resource_handle  # Made now, eagerly.

    def _create_resource(self):
        from tensorflow_text.python.ops import sentencepiece_tokenizer

        return sentencepiece_tokenizer.gen_sentencepiece_tokenizer.sentencepiece_op(
            model=self._proto, shared_name=self._shared_name
        )


@functools.lru_cache(maxsize=8)
def sentence_piece_from_config(encoded):
    """The tokenizer of a config's `{"sentence_piece": base64}`, made once
    per model proto: its tensorflow-text resource is then made eagerly, by
    the model that holds it, and shared by every function and export that
    uses it."""
    try:
        proto = base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError):
        raise ValueError(
            "Invalid value for argument `tokenizer`. Expected "
            '{"sentence_piece": <a SentencePiece model in base64>}. '
            f"Received: a sentence_piece of {encoded!r:.40}"
        ) from None
    return SentencePieceTokenizer(proto)


def train_sentence_piece(texts, vocabulary_size, max_sentence_length=4192):
    """Trains a unigram SentencePiece model on `texts`: its serialized proto.

    The ids match `ByteTokenizer`'s special ones (padding 0, start 1, end
    2; unknown 3), characters are kept as they are (no normalization, so
    detokenizing gives the text back), and bytes outside the learned pieces
    fall back to byte pieces. The same texts in the same order give the
    same model.

    Args:
        texts: an iterable of `str` or `bytes`, e.g. the training split.
        vocabulary_size: int. Pieces in the model, the 4 special ones and
            the 256 byte pieces included.
        max_sentence_length: int. Longer texts (in bytes) are skipped.

    Returns:
        bytes: the model, for `SentencePieceTokenizer`.
    """
    import sentencepiece

    # Byte fallback keeps a piece for each of the 256 bytes, beside the 4
    # special ones.
    vocabulary_size = check_integer("vocabulary_size", vocabulary_size,
                                    minimum=UNKNOWN_ID + 1 + 256 + 1)

    def sentences():
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            if text.strip():
                yield text

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=sentences(),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type="unigram",
        pad_id=PADDING_ID,
        bos_id=START_ID,
        eos_id=END_ID,
        unk_id=UNKNOWN_ID,
        byte_fallback=True,
        character_coverage=0.9995,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        # A small corpus may hold fewer pieces than asked for.
        hard_vocab_limit=False,
        max_sentence_length=max_sentence_length,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()
