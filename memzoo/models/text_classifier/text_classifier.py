import keras
import tensorflow as tf
from keras import ops

from memzoo.data import get_tokenizer
from memzoo.layers import Dropout
from memzoo.layers import MemoryBackbone
from memzoo.layers.attention_pooling import AttentionPooling
from memzoo.models.presets import register_presets
from memzoo.models.text_classifier import text_classifier_data
from memzoo.models.text_classifier import text_classifier_serving
from memzoo.models.text_classifier.text_classifier_presets import PRESETS
from memzoo.models.zoo_model import ZooModel
from memzoo.validation import check_integer
from memzoo.validation import check_rate

BACKBONES = ("lstm", "memory")
POOLINGS = ("last", "mean", "attention")
# Arguments of the memory backbone, refused with the LSTM one.
_MEMORY_ARGUMENTS = (
    "working_memory", "long_short_term_memory", "num_heads", "segment_length",
    "lstm_layers",
)


@keras.saving.register_keras_serializable(package="memzoo")
class TextClassifier(ZooModel):
    """A text classifier over token ids, on an LSTM or a memory backbone.

    With `backbone="lstm"` it is the seeds' sentiment model, Embedding ->
    LSTM -> Dense(softmax), with `num_layers` stacked (optionally
    bidirectional) LSTMs. With `backbone="memory"` the text is read by the
    blocks of `BigLanguageModel`: token LSTMs, then `num_layers` memory
    blocks, each attending to a window of `working_memory` tokens and
    reading `long_short_term_memory` slots written every `segment_length`
    tokens, so a text much longer than the window is read whole at O(W) cost
    per token. The token states are pooled into one vector (`"last"` token,
    `"mean"`, or learned `"attention"`) and a dense layer gives the class
    probabilities.

    Id 0 is padding: it is masked for the LSTMs and the pooling, so padding
    at the end of a text (as `memzoo.data.classification_dataset` pads) does
    not change its probabilities. The memory backbone is causal, so its
    states at the real tokens never see the padding after them.

    Args:
        vocab_size: int. Size of the token vocabulary (id 0 is padding).
        embedding_dim: int. Width of the token embeddings.
        hidden_dim: int. Units of the LSTMs, width of the memory blocks.
        num_classes: int. Number of classes (at least 2).
        backbone: `"lstm"` or `"memory"`.
        working_memory: int. W >= 1, the memory backbone's window (required
            with it, refused without it, as are the next four).
        long_short_term_memory: int. M >= 0 memory slots per block.
        num_heads: int. Attention heads of the blocks (default 4).
        segment_length: int. Tokens between two slot writes (default W).
        lstm_layers: int >= 0. Token LSTMs under the blocks (default 1).
        bidirectional: bool. Read both ways (LSTM backbone only).
        pooling: `"last"`, `"mean"` or `"attention"`.
        num_layers: int. Stacked LSTMs (`"lstm"`) or memory blocks
            (`"memory"`).
        dropout: float. Dropout rate.
        tokenizer: `None`, `"byte"`, or a word vocabulary (a list of
            strings from `memzoo.data.word_vectorizer(...).get_vocabulary()`,
            whose ids the model then reads). Lets `classify()` take strings.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Returns (when called):
        float32 class probabilities `[batch, num_classes]`; the default
        `compile()` matches them (cross-entropy of probabilities).

    Example:

    ```python
    model = memzoo.TextClassifier(
        vocab_size=259, embedding_dim=16, hidden_dim=32, num_classes=3,
        tokenizer="byte",
    )
    probabilities = model(np.array([[72, 105, 0, 0]]))      # [1, 3]
    model.classify(["What a lovely day", "Awful service"])  # [2, 3]
    reader = memzoo.TextClassifier(
        vocab_size=259, embedding_dim=16, hidden_dim=32, num_classes=5,
        backbone="memory", working_memory=16, long_short_term_memory=4,
        pooling="mean",
    )
    reader(np.ones((2, 100), "int32"))                     # 100 > W tokens
    model.compile()     # Adam, sparse categorical cross-entropy, accuracy
    ```
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        hidden_dim,
        num_classes,
        backbone="lstm",
        working_memory=None,
        long_short_term_memory=None,
        bidirectional=False,
        pooling="last",
        num_layers=1,
        num_heads=None,
        segment_length=None,
        lstm_layers=None,
        dropout=0.0,
        tokenizer=None,
        **kwargs,
    ):
        vocab_size = check_integer("vocab_size", vocab_size)
        embedding_dim = check_integer("embedding_dim", embedding_dim)
        hidden_dim = check_integer("hidden_dim", hidden_dim)
        num_classes = check_integer("num_classes", num_classes, minimum=2)
        _check_choice("backbone", backbone, BACKBONES)
        _check_choice("pooling", pooling, POOLINGS)
        if not isinstance(bidirectional, bool):
            raise ValueError(
                "Invalid value for argument `bidirectional`. Expected True or "
                f"False. Received: bidirectional={bidirectional!r}"
            )
        num_layers = check_integer("num_layers", num_layers)
        dropout = check_rate("dropout", dropout)
        memory_arguments = {
            "working_memory": working_memory,
            "long_short_term_memory": long_short_term_memory,
            "num_heads": num_heads,
            "segment_length": segment_length,
            "lstm_layers": lstm_layers,
        }
        if backbone == "lstm":
            for name in _MEMORY_ARGUMENTS:
                if memory_arguments[name] is not None:
                    raise ValueError(
                        f"Invalid value for argument `{name}`. Expected None "
                        "with backbone='lstm' (it sets the memory backbone). "
                        f"Received: {name}={memory_arguments[name]!r}"
                    )
        else:
            if bidirectional:
                raise ValueError(
                    "Invalid value for argument `bidirectional`. Expected "
                    "False with backbone='memory', which reads causally. "
                    "Received: bidirectional=True"
                )
            for name in ("working_memory", "long_short_term_memory"):
                if memory_arguments[name] is None:
                    raise ValueError(
                        f"Invalid value for argument `{name}`. Expected an "
                        f"integer with backbone='memory'. Received: {name}=None"
                    )
            working_memory = check_integer("working_memory", working_memory)
            long_short_term_memory = check_integer(
                "long_short_term_memory", long_short_term_memory, minimum=0
            )
            if segment_length is not None:
                segment_length = check_integer("segment_length", segment_length)
            heads = check_integer("num_heads", 4 if num_heads is None else num_heads)
            if hidden_dim % heads or (hidden_dim // heads) % 2:
                raise ValueError(
                    "Invalid value for argument `num_heads`. Expected a "
                    f"divisor of hidden_dim={hidden_dim} that leaves an even "
                    f"head size. Received: num_heads={heads}"
                )
            check_integer(
                "lstm_layers", 1 if lstm_layers is None else lstm_layers,
                minimum=0,
            )
        if isinstance(tokenizer, (list, tuple)):
            tokenizer = _check_vocabulary(tokenizer, vocab_size)
        else:
            self._check_tokenizer(tokenizer, vocab_size)
        super().__init__(**kwargs)

        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.dropout_layer = Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        if backbone == "lstm":
            self.lstms = [
                self._lstm(
                    hidden_dim, bidirectional,
                    # The last LSTM gives the pooled vector itself for "last":
                    # Keras then takes each row's last unmasked step (and, both
                    # ways, the backward pass's state at the first token).
                    sequences=index < num_layers - 1 or pooling != "last",
                    name=f"lstm_{index}",
                )
                for index in range(num_layers)
            ]
        else:
            self.memory_backbone = MemoryBackbone(
                hidden_dim=hidden_dim,
                num_layers=num_layers,
                num_heads=4 if num_heads is None else num_heads,
                working_memory=working_memory,
                long_short_term_memory=long_short_term_memory,
                segment_length=segment_length,
                lstm_layers=1 if lstm_layers is None else lstm_layers,
                dropout=dropout,
                dtype=self.dtype_policy,
                name="memory_backbone",
            )
        self.pooling_layer = None
        if pooling == "mean":
            self.pooling_layer = keras.layers.GlobalAveragePooling1D(
                dtype=self.dtype_policy, name="mean_pooling"
            )
        elif pooling == "attention":
            self.pooling_layer = AttentionPooling(
                hidden_dim, dtype=self.dtype_policy, name="attention_pooling"
            )
        self.classifier_head = keras.layers.Dense(
            num_classes, dtype=self.dtype_policy, name="classifier_head"
        )
        text_vectorization = None
        if isinstance(tokenizer, list):
            # Keras's own word lookup: TensorFlow string ops, so `classify`
            # and an exported signature take strings. Not tracked: the
            # vocabulary is in the config already, and a string layer inside
            # would make Keras turn XLA off for the whole model.
            text_vectorization = keras.layers.TextVectorization(
                vocabulary=tokenizer, name="text_vectorization"
            )
        object.__setattr__(self, "text_vectorization", text_vectorization)

        # === Config ===
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_classes = num_classes
        self.backbone = backbone
        self.working_memory = working_memory
        self.long_short_term_memory = long_short_term_memory
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.segment_length = segment_length
        self.lstm_layers = lstm_layers
        self.dropout = dropout
        self.tokenizer = tokenizer

    def _lstm(self, units, bidirectional, sequences, name):
        lstm = keras.layers.LSTM(
            units, return_sequences=sequences, dtype=self.dtype_policy,
            name=name,
        )
        if bidirectional:
            return keras.layers.Bidirectional(
                lstm, dtype=self.dtype_policy, name=f"bidirectional_{name}"
            )
        return lstm

    def compile_defaults(self):
        """Adam (learning rate 1e-3), sparse categorical cross-entropy of
        the model's probabilities, and accuracy."""
        return {
            "optimizer": keras.optimizers.Adam(1e-3),
            "loss": keras.losses.SparseCategoricalCrossentropy(),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        shape = (*input_shape, self.embedding_dim)
        width = self.hidden_dim
        if self.backbone == "lstm":
            for lstm in self.lstms:
                lstm.build(shape)
                shape = (*input_shape, width * (1 + self.bidirectional))
            width = shape[-1]
        else:
            self.memory_backbone.build(shape)
        if self.pooling_layer is not None:
            self.pooling_layer.build((*input_shape, width))
        self.classifier_head.build((input_shape[0], width))
        self.built = True

    def call(self, token_ids, training=None):
        token_ids = self._check_token_ids(token_ids)
        if len(token_ids.shape) != 2:
            raise ValueError(
                "Invalid value for argument `token_ids`. Expected shape "
                f"[batch, time]. Received: shape={tuple(token_ids.shape)}"
            )
        mask = ops.not_equal(token_ids, 0)
        x = self.dropout_layer(self.token_embedding(token_ids), training=training)
        if self.backbone == "lstm":
            for index, lstm in enumerate(self.lstms):
                if index:
                    x = self.dropout_layer(x, training=training)
                x = lstm(x, mask=mask, training=training)
        else:
            x = self._read_with_memory(x, training)
        if self.pooling == "last" and self.backbone == "memory":
            # The causal backbone's state at a text's last token has read it
            # all; a text of padding only pools its first step.
            last = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
            x = ops.take_along_axis(x, last[:, None, None], axis=1)[:, 0]
        elif self.pooling_layer is not None:
            x = self.pooling_layer(x, mask=mask)
        x = self.dropout_layer(x, training=training)
        # Probabilities in float32 under mixed precision, for a stable softmax.
        logits = ops.cast(self.classifier_head(x), "float32")
        return ops.softmax(logits, axis=-1)

    def _read_with_memory(self, x, training):
        """The memory backbone, from a fresh state for each text."""
        x, _ = self.memory_backbone(x, training=training)
        return x

    def classify(self, texts, max_length=None):
        """Class probabilities `[batch, num_classes]` of strings.

        The texts are tokenized with TensorFlow string ops (the model's
        `tokenizer`: bytes, or its word vocabulary through
        `keras.layers.TextVectorization`), cut to `max_length` tokens when
        given, and padded.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = tf.convert_to_tensor(texts, tf.string)
        if self.text_vectorization is not None:
            ids = tf.cast(self.text_vectorization(texts), "int32")
            if max_length is not None:
                ids = ids[:, : check_integer("max_length", max_length)]
            return self(ids)
        tokenizer = get_tokenizer(self.tokenizer)
        if tokenizer is None:
            raise ValueError(
                "Invalid value for argument `texts`. Expected token ids, "
                "since this TextClassifier has no tokenizer. Received: "
                "strings. Build the model with `tokenizer='byte'` (as the "
                "presets are) or tokenize the texts yourself."
            )
        ids = tokenizer.tokenize(texts)
        if max_length is not None:
            ids = ids[:, : check_integer("max_length", max_length)]
        return self(ids.to_tensor(default_value=0, shape=[None, None]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    # A text is scored on its first 512 tokens unless told otherwise.
    default_sequence_length = 512

    training_data = classmethod(text_classifier_data.training_data)

    evaluate_held_out = text_classifier_data.evaluate_held_out

    def add_serving_endpoints(self, archive, limits, tokenizer=None):
        """`serving_default` (`token_ids` -> `probabilities`) and, with a
        tokenizer, `classify` (`text` -> `probabilities`)."""
        return text_classifier_serving.add_serving_endpoints(self, archive, limits)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "num_classes": self.num_classes,
                "backbone": self.backbone,
                "working_memory": self.working_memory,
                "long_short_term_memory": self.long_short_term_memory,
                "bidirectional": self.bidirectional,
                "pooling": self.pooling,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "segment_length": self.segment_length,
                "lstm_layers": self.lstm_layers,
                "dropout": self.dropout,
                "tokenizer": self.tokenizer,
            }
        )
        return config


def _check_vocabulary(vocabulary, vocab_size):
    """A word vocabulary as `TextVectorization.get_vocabulary()` gives it."""
    vocabulary = [str(token) for token in vocabulary]
    if vocabulary[:2] != ["", "[UNK]"] or len(vocabulary) > vocab_size:
        raise ValueError(
            "Invalid value for argument `tokenizer`. Expected 'byte', None, or "
            "a word vocabulary from `TextVectorization.get_vocabulary()` (the "
            "padding '' and '[UNK]' first) of at most "
            f"vocab_size={vocab_size} tokens. Received: {len(vocabulary)} "
            f"tokens starting {vocabulary[:3]}"
        )
    return vocabulary


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{list(choices)}. Received: {name}={value!r}"
        )


register_presets(TextClassifier, PRESETS)
