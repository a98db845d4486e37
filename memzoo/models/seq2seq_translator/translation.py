"""What a translator does with its encoder and decoder: translate, decode,
score a translation."""

import numpy as np
import tensorflow as tf
from keras import ops

from memzoo.data import get_tokenizer
from memzoo.data.sentence_piece import TRAINED_ON_DATA
from memzoo.models.language_model import _is_list_of_strings
from memzoo.models.seq2seq_translator.translation_search import END_ID
from memzoo.models.seq2seq_translator.translation_search import PADDING_ID
from memzoo.models.seq2seq_translator.translation_search import START_ID
from memzoo.models.seq2seq_translator.translation_search import beam_search
from memzoo.models.seq2seq_translator.translation_search import greedy_search
from memzoo.validation import check_integer


class Translation:
    """`translate()`, `decode()`, `translate_text()` and `log_probability()`
    of `Seq2SeqTranslator`, on its `encode()` and `decode_step()`."""

    def translate(
        self,
        inputs,
        beam_size=1,
        max_length=128,
        return_log_probability=False,
        jit_compile=None,
        return_ids=False,
    ):
        """Translates sources with a compiled greedy or beam-search loop.

        Args:
            inputs: a string or list of strings (needs the model's
                `tokenizer`), or source ids: a 2-D array padded with 0 or a
                list of id lists.
            beam_size: int. 1 decodes greedily; k > 1 keeps the k most
                likely partial translations at each step.
            max_length: int. The most target tokens (the end token counted)
                a translation can have; longer ones are cut there.
            return_log_probability: bool. Also return each translation's
                score: the sum of the log-probabilities of its tokens and of
                its end token, or of its tokens alone if it was cut at
                `max_length` before it ended. It is always
                `log_probability(inputs, translations, max_length)` of the
                translations returned (as ids; as strings too when their
                bytes are valid UTF-8).
            jit_compile: bool or `None`. Compile the loop with XLA; `None`
                follows `compile(jit_compile=...)` and is off before.
            return_ids: bool. Return ids even for string inputs. A string
                cannot carry bytes that are not valid UTF-8 (they become
                U+FFFD, other bytes), as in an untrained model's output or
                one cut inside a character; the ids are the exact output.

        Returns:
            The translations in the inputs' form: strings for strings, ids
            (`int32 [batch, max_length]` padded with 0, without start and
            end ids; a row of `max_length` tokens was cut there) for ids or
            with `return_ids`; with `return_log_probability`, a pair
            `(translations, float32 log-probabilities)`.

        A beam search's translation is most often at least as likely as the
        greedy one, yet not always: no pruned search guarantees it.
        """
        beam_size = check_integer("beam_size", beam_size)
        if beam_size > self.target_vocab_size:
            raise ValueError(
                "Invalid value for argument `beam_size`. Expected at most "
                f"target_vocab_size={self.target_vocab_size}. Received: "
                f"beam_size={beam_size}"
            )
        max_length = check_integer("max_length", max_length)
        if jit_compile is None:
            jit_compile = self.compiled and self.jit_compile is True
        if jit_compile:
            self._use_xla_compatible_layers()
        if isinstance(inputs, str):
            outputs = self.translate(
                [inputs], beam_size, max_length, return_log_probability,
                jit_compile, return_ids,
            )
            if return_log_probability:
                return outputs[0][0], outputs[1][0]
            return outputs[0]
        source_ids = self._source_ids(inputs)
        if not self.built:
            self.build((None, None))
        decode = self._decode_function(beam_size, max_length, bool(jit_compile))
        target_ids, log_probability = decode(source_ids)
        outputs, log_probability = target_ids.numpy(), log_probability.numpy()
        if _is_list_of_strings(inputs) and not return_ids:
            outputs = [
                text.decode("utf-8", errors="replace")
                for text in self._text_tokenizer().detokenize(outputs).numpy()
            ]
        if return_log_probability:
            return outputs, log_probability
        return outputs

    def decode(self, source_ids, beam_size=1, max_length=128):
        """Translates ids in TensorFlow ops, for `tf.function` and exports.

        Args:
            source_ids: int `[batch, time]`, padded with 0.
            beam_size: int. As in `translate()`.
            max_length: int or int32 scalar tensor (a tensor works outside
                XLA only). As in `translate()`.

        Returns:
            `(target ids int32 [batch, max_length] padded with 0, without
            start and end ids, float32 log-probabilities [batch])`.
        """
        encoded, states = self.encode(source_ids, training=False)
        if beam_size == 1:
            return greedy_search(self, encoded, states, max_length)
        return beam_search(self, encoded, states, max_length, beam_size)

    def translate_text(self, texts, beam_size=1, max_length=128):
        """`tf.string [batch]` -> `tf.string [batch]` in TensorFlow ops.

        What a SavedModel's `translate` signature runs: tokenizing, decoding
        and detokenizing all in the graph (not under XLA, which has no
        string ops). Bytes that are not valid UTF-8 become U+FFFD.
        """
        tokenizer = self._text_tokenizer()
        source_ids = dense_ids(tokenizer.tokenize(texts))
        target_ids, _ = self.decode(source_ids, beam_size, max_length)
        return tf.strings.unicode_transcode(
            tokenizer.detokenize(target_ids), "UTF-8", "UTF-8",
            errors="replace", replacement_char=0xFFFD,
        )

    def log_probability(self, inputs, translations, max_length=None):
        """`log p(translation | source)` of each pair, teacher-forced.

        The sum of the log-probabilities of a translation's tokens and of
        the end token after them; for a translation that `translate()` cut
        at `max_length` before it ended, of its tokens alone. So with the
        same `max_length`, this is the score `translate()` returns with its
        translations.

        Args:
            inputs: strings or source ids, as in `translate()`.
            translations: strings, scored as their UTF-8 bytes, or target
                ids padded with 0 without start and end ids, as
                `translate()` returns them. Score `translate()`'s ids
                (`return_ids=True`) rather than its strings when these may
                hold U+FFFD: bytes that were not valid UTF-8 became it.
            max_length: `None` or int. `None` scores every translation as
                ended. An int is the `max_length` given to `translate()`: a
                translation of `max_length` tokens was cut there and is
                scored without an end token; a longer one is an error.

        Returns:
            float32 numpy array `[batch]` (a float for one string).
        """
        if isinstance(inputs, str):
            return self.log_probability([inputs], [translations], max_length)[0]
        source_ids = self._source_ids(inputs)
        if _is_list_of_strings(translations):
            target = self._text_tokenizer().tokenize(tf.constant(translations))
        else:
            ids = padded_ids(translations, "translations", self.target_vocab_size)
            target = tf.ragged.boolean_mask(ids, ids != PADDING_ID)
        num_sources, num_targets = int(source_ids.shape[0]), int(target.nrows())
        if num_targets != num_sources:
            raise ValueError(
                "Invalid value for argument `translations`. Expected one per "
                f"source ({num_sources}). Received: {num_targets}"
            )
        lengths = target.row_lengths().numpy()
        if max_length is None:
            ended = np.ones_like(lengths, dtype=bool)
        else:
            max_length = check_integer("max_length", max_length)
            if lengths.max() > max_length:
                raise ValueError(
                    "Invalid value for argument `translations`. Expected at "
                    f"most max_length={max_length} tokens each, as "
                    "`translate()` returns them. Received: "
                    f"{lengths.max()} tokens in translation "
                    f"{lengths.argmax()}. A string whose bytes were not "
                    "valid UTF-8 is longer than them: score the ids "
                    "(`translate(..., return_ids=True)`)."
                )
            ended = lengths < max_length
        start = tf.fill([target.nrows(), 1], START_ID)
        end = tf.fill([target.nrows(), 1], END_ID)
        target_in = dense_ids(tf.concat([start, target], axis=1))
        target_out = dense_ids(tf.concat([target, end], axis=1))
        logits = self((source_ids, target_in), training=False)
        token_log_probability = tf.gather(
            tf.nn.log_softmax(logits), target_out, batch_dims=2
        )
        # The translation's tokens, then the end token only if it ended.
        weights = tf.sequence_mask(
            lengths + ended, tf.shape(target_out)[1], dtype=tf.float32
        )
        return tf.reduce_sum(token_log_probability * weights, axis=1).numpy()

    def _source_ids(self, inputs):
        """Strings or ids -> checked source ids `[batch, time]`."""
        if _is_list_of_strings(inputs):
            tokenizer = self._text_tokenizer()
            return dense_ids(tokenizer.tokenize(tf.constant(inputs)))
        return padded_ids(inputs, "inputs", self.source_vocab_size)

    def _text_tokenizer(self):
        if self.tokenizer == TRAINED_ON_DATA:
            raise ValueError(
                "Invalid value for argument `inputs`. Expected token ids, "
                "since this Seq2SeqTranslator's SentencePiece model is not "
                "trained yet (tokenizer='sentence_piece': `memzoo train` "
                "trains it on the data). Received: strings"
            )
        tokenizer = get_tokenizer(self.tokenizer)
        if tokenizer is None:
            raise ValueError(
                "Invalid value for argument `inputs`. Expected token ids, "
                "since this Seq2SeqTranslator has no tokenizer. Received: "
                "strings. Build the model with `tokenizer='byte'` (as the "
                "presets are) or tokenize the texts yourself."
            )
        return tokenizer

    def _decode_function(self, beam_size, max_length, jit_compile):
        """The compiled decode loop, cached per beam size, length and XLA."""
        # Kept out of Keras's attribute tracking, as in memzoo.generation.
        cache = self.__dict__.setdefault("_memzoo_decode_functions", {})
        key = (beam_size, max_length, jit_compile)
        if key not in cache:
            cache[key] = tf.function(
                lambda source_ids: self.decode(source_ids, beam_size, max_length),
                jit_compile=jit_compile,
                reduce_retracing=True,
            )
        return cache[key]


def is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        dim is None or isinstance(dim, (int, np.integer)) for dim in value
    )


def as_ids(ids):
    ids = ops.convert_to_tensor(ids)
    if ids.dtype != "int32":
        ids = ops.cast(ids, "int32")
    return ids


def dense_ids(ragged_ids):
    """Ragged ids -> `int32 [batch, time]` padded with 0, at least 1 wide.

    An all-padding source row is fine (the attention then spreads evenly),
    but a batch of empty texts would give a zero-length source.
    """
    ids = ragged_ids.to_tensor(default_value=PADDING_ID)
    width = tf.maximum(tf.shape(ids)[1], 1)
    return tf.pad(ids, [[0, 0], [0, width - tf.shape(ids)[1]]])


def padded_ids(ids, name, vocab_size):
    """Ids in [0, vocab_size) as `int32 [batch, time]`; lists padded with 0."""
    if hasattr(ids, "numpy"):
        ids = ids.numpy()
    if isinstance(ids, (list, tuple)) and ids and all(
        isinstance(row, (list, tuple, np.ndarray)) for row in ids
    ):
        width = max(max(len(row) for row in ids), 1)
        ids = np.array(
            [list(row) + [PADDING_ID] * (width - len(row)) for row in ids]
        )
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[0] == 0 or not (
        np.issubdtype(ids.dtype, np.integer) or ids.size == 0
    ):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected strings, or "
            "integer token ids of shape [batch, time] (or a list of id "
            f"lists). Received: {type(ids).__name__} of shape {ids.shape} and "
            f"dtype {ids.dtype}"
        )
    if ids.shape[1] == 0:
        ids = np.zeros((ids.shape[0], 1), np.int32)
    check_id_range(name, ids, vocab_size)
    return ids.astype(np.int32)


def check_id_range(name, ids, vocab_size):
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected ids in "
            f"[0, {vocab_size}). Received: ids from {ids.min()} to {ids.max()}"
        )
