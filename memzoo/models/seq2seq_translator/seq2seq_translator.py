import keras
import numpy as np
import tensorflow as tf
from keras import ops

from memzoo.data import get_tokenizer
from memzoo.metrics import TokenAccuracy
from memzoo.models.language_model import _is_list_of_strings
from memzoo.models.presets import register_presets
from memzoo.models.seq2seq_translator.seq2seq_translator_presets import PRESETS
from memzoo.models.seq2seq_translator.translation_search import END_ID
from memzoo.models.seq2seq_translator.translation_search import PADDING_ID
from memzoo.models.seq2seq_translator.translation_search import START_ID
from memzoo.models.seq2seq_translator.translation_search import beam_search
from memzoo.models.seq2seq_translator.translation_search import greedy_search
from memzoo.models.zoo_model import ZooModel
from memzoo.validation import check_integer
from memzoo.validation import check_rate

ATTENTIONS = ("luong", "bahdanau")


@keras.saving.register_keras_serializable(package="memzoo")
class Seq2SeqTranslator(ZooModel):
    """An LSTM encoder-decoder with attention, for translation.

    The seeds' translation model: an LSTM encoder reads the source, an LSTM
    decoder started from the encoder's final states reads the target so far,
    and at each step attends over the encoder outputs (padding masked out)
    to predict the next target token (Luong et al., 2015, "Effective
    Approaches to Attention-based Neural Machine Translation"). The
    attention query is the decoder's output at the step, so teacher-forced
    training runs every target step in parallel; `attention` chooses the
    score: Luong's bilinear ("general") score or Bahdanau et al.'s (2015)
    additive one. `translate()` decodes greedily or with a beam search, each
    one compiled loop (XLA-compatible).

    Token ids follow `memzoo.data.translation_dataset`: 0 is padding, the
    target starts with id 1 and ends with id 2. `call` takes
    `(source_ids, target_input_ids)`, the target without its last token,
    and returns logits that predict the target without its first token
    (`teacher_forcing` makes such batches).

    Args:
        source_vocab_size: int. Size of the source vocabulary.
        target_vocab_size: int. Size of the target vocabulary, at least 3.
        embedding_dim: int. Width of the token embeddings.
        hidden_dim: int. Units of each LSTM and of the attention.
        attention: `"luong"` or `"bahdanau"`. The attention score.
        num_layers: int. Stacked LSTMs in the encoder and in the decoder.
        dropout: float. Dropout rate after the embeddings and each LSTM.
        tokenizer: `None` or `"byte"`. Lets `translate()` take strings.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Example:

    ```python
    model = memzoo.Seq2SeqTranslator(
        source_vocab_size=259, target_vocab_size=259, embedding_dim=8,
        hidden_dim=16, attention="bahdanau", tokenizer="byte",
    )
    source = np.array([[75, 104, 0]])                    # padded with 0
    target_in = np.array([[1, 75, 104]])                 # starts with 1
    logits = model((source, target_in))                  # [1, 3, 259]
    model.translate("Hello", max_length=8)               # up to 8 bytes
    model.translate(["Hello", "Open file"], beam_size=3, max_length=8)
    ids, log_probability = model.translate(source, max_length=8,
                                           return_log_probability=True)
    model.log_probability(source, ids, max_length=8)     # == log_probability

    pairs = tf.data.Dataset.from_tensor_slices((["Open file"], ["Datei öffnen"]))
    dataset = memzoo.data.translation_dataset(pairs, batch_size=1, max_length=16)
    model.compile()
    model.fit(dataset.map(model.teacher_forcing), epochs=1, verbose=0)
    ```
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        embedding_dim,
        hidden_dim,
        attention="luong",
        num_layers=1,
        dropout=0.0,
        tokenizer=None,
        **kwargs,
    ):
        source_vocab_size = check_integer("source_vocab_size", source_vocab_size)
        target_vocab_size = check_integer(
            "target_vocab_size", target_vocab_size, minimum=END_ID + 1
        )
        embedding_dim = check_integer("embedding_dim", embedding_dim)
        hidden_dim = check_integer("hidden_dim", hidden_dim)
        if attention not in ATTENTIONS:
            raise ValueError(
                "Invalid value for argument `attention`. Expected one of "
                f"{list(ATTENTIONS)}. Received: attention={attention!r}"
            )
        num_layers = check_integer("num_layers", num_layers)
        dropout = check_rate("dropout", dropout)
        _check_tokenizer(tokenizer, source_vocab_size, target_vocab_size)
        super().__init__(**kwargs)

        # === Layers ===
        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, embedding_dim, dtype=self.dtype_policy,
            name="source_embedding",
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, embedding_dim, dtype=self.dtype_policy,
            name="target_embedding",
        )
        self.encoder_lstms = [
            keras.layers.LSTM(
                hidden_dim, return_sequences=True, return_state=True,
                dtype=self.dtype_policy, name=f"encoder_lstm_{index}",
            )
            for index in range(num_layers)
        ]
        self.decoder_lstms = [
            keras.layers.LSTM(
                hidden_dim, return_sequences=True, return_state=True,
                dtype=self.dtype_policy, name=f"decoder_lstm_{index}",
            )
            for index in range(num_layers)
        ]
        # Keras's attention layers score queries against keys as they are;
        # the papers' learned projections are these Dense layers.
        self.attention_key = keras.layers.Dense(
            hidden_dim, use_bias=False, dtype=self.dtype_policy,
            name="attention_key",
        )
        if attention == "luong":
            self.attention_query = None
            self.attention_layer = keras.layers.Attention(
                dtype=self.dtype_policy, name="attention"
            )
        else:
            self.attention_query = keras.layers.Dense(
                hidden_dim, use_bias=False, dtype=self.dtype_policy,
                name="attention_query",
            )
            self.attention_layer = keras.layers.AdditiveAttention(
                dtype=self.dtype_policy, name="attention"
            )
        self.attention_output = keras.layers.Dense(
            hidden_dim, activation="tanh", use_bias=False,
            dtype=self.dtype_policy, name="attention_output",
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.output_projection = keras.layers.Dense(
            target_vocab_size, dtype=self.dtype_policy, name="output_projection"
        )

        # === Config ===
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.attention = attention
        self.num_layers = num_layers
        self.dropout = dropout
        self.tokenizer = tokenizer

    def build(self, input_shape):
        # `build((None, None))` builds for ids of any shape on both sides.
        if _is_shape(input_shape):
            source_shape = target_shape = tuple(input_shape)
        else:
            source_shape, target_shape = (tuple(shape) for shape in input_shape)
        self.source_embedding.build(source_shape)
        self.target_embedding.build(target_shape)
        encoder_shape = (*source_shape, self.embedding_dim)
        decoder_shape = (*target_shape, self.embedding_dim)
        for encoder_lstm, decoder_lstm in zip(self.encoder_lstms, self.decoder_lstms):
            encoder_lstm.build(encoder_shape)
            decoder_lstm.build(decoder_shape)
            encoder_shape = (*source_shape, self.hidden_dim)
            decoder_shape = (*target_shape, self.hidden_dim)
        self.attention_key.build(encoder_shape)
        if self.attention_query is not None:
            self.attention_query.build(decoder_shape)
        self.attention_layer.build([decoder_shape, encoder_shape, encoder_shape])
        self.attention_output.build((*target_shape, 2 * self.hidden_dim))
        self.output_projection.build((*target_shape, self.hidden_dim))
        self.built = True

    def call(self, inputs, training=None):
        source_ids, target_ids = self._split_inputs(inputs)
        encoded, states = self.encode(source_ids, training=training)
        logits, _ = self.decode_step(target_ids, states, encoded, training=training)
        return logits

    def encode(self, source_ids, training=None):
        """Reads the source: `(encoded, states)` for `decode_step`.

        `encoded` holds the encoder outputs (`values`), their attention
        projection (`keys`) and the source padding `mask`; `states` is the
        final `[h, c]` of each encoder LSTM, which starts the decoder.
        """
        source_ids = _as_ids(source_ids)
        mask = ops.not_equal(source_ids, PADDING_ID)
        x = self.dropout_layer(self.source_embedding(source_ids), training=training)
        states = []
        for lstm in self.encoder_lstms:
            # Masked steps carry the state on, so padding changes nothing.
            x, h, c = lstm(x, mask=mask, training=training)
            x = self.dropout_layer(x, training=training)
            states.append([h, c])
        encoded = {"values": x, "keys": self.attention_key(x), "mask": mask}
        return encoded, states

    def decode_step(self, target_ids, states, encoded, training=None):
        """Reads target ids `[batch, time]` from `states`: `(logits, states)`.

        Called once with the whole target (teacher forcing) or token by token
        with the states carried (decoding); both give the same logits.
        """
        target_ids = _as_ids(target_ids)
        x = self.dropout_layer(self.target_embedding(target_ids), training=training)
        new_states = []
        for lstm, (h, c) in zip(self.decoder_lstms, states):
            x, h, c = lstm(x, initial_state=[h, c], training=training)
            x = self.dropout_layer(x, training=training)
            new_states.append([h, c])
        query = x if self.attention_query is None else self.attention_query(x)
        context = self.attention_layer(
            [query, encoded["values"], encoded["keys"]],
            mask=[None, encoded["mask"]],
            training=training,
        )
        x = self.attention_output(ops.concatenate([context, x], axis=-1))
        x = self.dropout_layer(x, training=training)
        # Logits stay float32 under mixed precision, for a stable softmax.
        logits = ops.cast(self.output_projection(x), "float32")
        return logits, new_states

    @staticmethod
    def teacher_forcing(source_ids, target_ids):
        """`(source, target)` -> `((source, target[:, :-1]), target[:, 1:])`.

        Maps `memzoo.data.translation_dataset` batches to what `fit` takes:
        the decoder reads the target up to each step and predicts the next
        token.
        """
        return (source_ids, target_ids[:, :-1]), target_ids[:, 1:]

    def compute_output_shape(self, input_shape):
        return (*input_shape[1], self.target_vocab_size)

    def compile_defaults(self):
        """Adam (learning rate 1e-3), sparse categorical cross-entropy on
        logits that ignores padding targets (id 0), and the accuracy of the
        non-padding target tokens."""
        return {
            "optimizer": keras.optimizers.Adam(1e-3),
            "loss": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=PADDING_ID
            ),
            "metrics": [TokenAccuracy()],
        }

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
        source_ids = _dense_ids(tokenizer.tokenize(texts))
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
            ids = _padded(translations, "translations", self.target_vocab_size)
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
        target_in = _dense_ids(tf.concat([start, target], axis=1))
        target_out = _dense_ids(tf.concat([target, end], axis=1))
        logits = self((source_ids, target_in), training=False)
        token_log_probability = tf.gather(
            tf.nn.log_softmax(logits), target_out, batch_dims=2
        )
        # The translation's tokens, then the end token only if it ended.
        weights = tf.sequence_mask(
            lengths + ended, tf.shape(target_out)[1], dtype=tf.float32
        )
        return tf.reduce_sum(token_log_probability * weights, axis=1).numpy()

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocab_size": self.source_vocab_size,
                "target_vocab_size": self.target_vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "attention": self.attention,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "tokenizer": self.tokenizer,
            }
        )
        return config

    def _split_inputs(self, inputs):
        if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            raise ValueError(
                "Invalid value for argument `inputs`. Expected a pair "
                "(source_ids, target_input_ids). Received: "
                f"{type(inputs).__name__} {inputs!r:.80}"
            )
        source_ids, target_ids = (_as_ids(ids) for ids in inputs)
        if tf.executing_eagerly():
            for name, ids, size in (
                ("source_ids", source_ids, self.source_vocab_size),
                ("target_input_ids", target_ids, self.target_vocab_size),
            ):
                _check_id_range(name, ids.numpy(), size)
        return source_ids, target_ids

    def _source_ids(self, inputs):
        """Strings or ids -> checked source ids `[batch, time]`."""
        if _is_list_of_strings(inputs):
            tokenizer = self._text_tokenizer()
            return _dense_ids(tokenizer.tokenize(tf.constant(inputs)))
        return _padded(inputs, "inputs", self.source_vocab_size)

    def _text_tokenizer(self):
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


def _check_tokenizer(tokenizer, source_vocab_size, target_vocab_size):
    instance = get_tokenizer(tokenizer)
    if instance is None:
        return
    for name, size in (
        ("source_vocab_size", source_vocab_size),
        ("target_vocab_size", target_vocab_size),
    ):
        if instance.vocabulary_size > size:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected at least "
                f"{instance.vocabulary_size}, the size of the {tokenizer!r} "
                f"tokenizer's vocabulary. Received: {name}={size}"
            )


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        dim is None or isinstance(dim, (int, np.integer)) for dim in value
    )


def _as_ids(ids):
    ids = ops.convert_to_tensor(ids)
    if ids.dtype != "int32":
        ids = ops.cast(ids, "int32")
    return ids


def _dense_ids(ragged_ids):
    """Ragged ids -> `int32 [batch, time]` padded with 0, at least 1 wide.

    An all-padding source row is fine (the attention then spreads evenly),
    but a batch of empty texts would give a zero-length source.
    """
    ids = ragged_ids.to_tensor(default_value=PADDING_ID)
    width = tf.maximum(tf.shape(ids)[1], 1)
    return tf.pad(ids, [[0, 0], [0, width - tf.shape(ids)[1]]])


def _padded(ids, name, vocab_size):
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
    _check_id_range(name, ids, vocab_size)
    return ids.astype(np.int32)


def _check_id_range(name, ids, vocab_size):
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected ids in "
            f"[0, {vocab_size}). Received: ids from {ids.min()} to {ids.max()}"
        )


register_presets(Seq2SeqTranslator, PRESETS)
