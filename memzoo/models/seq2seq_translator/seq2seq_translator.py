import keras
import tensorflow as tf
from keras import ops

from memzoo.data import get_tokenizer
from memzoo.data.sentence_piece import TRAINED_ON_DATA
from memzoo.layers import Dropout
from memzoo.metrics import TokenAccuracy
from memzoo.models.presets import register_presets
from memzoo.models.seq2seq_translator import seq2seq_translator_data
from memzoo.models.seq2seq_translator import seq2seq_translator_serving
from memzoo.models.seq2seq_translator.seq2seq_translator_presets import PRESETS
from memzoo.models.seq2seq_translator.translation import Translation
from memzoo.models.seq2seq_translator.translation import as_ids
from memzoo.models.seq2seq_translator.translation import check_id_range
from memzoo.models.seq2seq_translator.translation import is_shape
from memzoo.models.seq2seq_translator.translation_search import END_ID
from memzoo.models.seq2seq_translator.translation_search import PADDING_ID
from memzoo.models.zoo_model import ZooModel
from memzoo.validation import check_integer
from memzoo.validation import check_rate

ATTENTIONS = ("luong", "bahdanau")


@keras.saving.register_keras_serializable(package="memzoo")
class Seq2SeqTranslator(Translation, ZooModel):
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
        tokenizer: what lets `translate()` take strings, on both sides:
            `None`, `"byte"`, or subwords, `{"sentence_piece": <model in
            base64>}` (`memzoo.data.SentencePieceTokenizer.config()`).
            `"sentence_piece"` asks `memzoo train` to train one of
            `target_vocab_size` pieces on the training split.
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
        self.dropout_layer = Dropout(
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
        if is_shape(input_shape):
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
        source_ids = as_ids(source_ids)
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
        target_ids = as_ids(target_ids)
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

    # Maps `memzoo.data.translation_dataset` batches to what `fit` takes.
    teacher_forcing = staticmethod(seq2seq_translator_data.teacher_forcing)

    def compute_output_shape(self, input_shape):
        return (*input_shape[1], self.target_vocab_size)

    def input_signature(self):
        """Source and target ids, each int32 `[batch, time]`."""
        return (tf.TensorSpec([None, None], tf.int32, name="source_ids"),
                tf.TensorSpec([None, None], tf.int32, name="target_ids"))

    training_data = classmethod(seq2seq_translator_data.training_data)

    evaluate_held_out = seq2seq_translator_data.evaluate_held_out

    def add_serving_endpoints(self, archive, limits, tokenizer=None):
        """`serving_default` (`source_ids`, `target_ids` -> `logits`) and,
        with a tokenizer, `translate` (`text`, `max_length` ->
        `translation`, greedy)."""
        return seq2seq_translator_serving.add_serving_endpoints(self, archive, limits)

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
        source_ids, target_ids = (as_ids(ids) for ids in inputs)
        if tf.executing_eagerly():
            for name, ids, size in (
                ("source_ids", source_ids, self.source_vocab_size),
                ("target_input_ids", target_ids, self.target_vocab_size),
            ):
                check_id_range(name, ids.numpy(), size)
        return source_ids, target_ids

def _check_tokenizer(tokenizer, source_vocab_size, target_vocab_size):
    if tokenizer == TRAINED_ON_DATA:
        return
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


register_presets(Seq2SeqTranslator, PRESETS)
