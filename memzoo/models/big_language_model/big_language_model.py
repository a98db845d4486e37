import keras
from keras import ops

from memzoo.layers import Dropout
from memzoo.layers import MemoryBackbone
from memzoo.layers.memory_block import check_slot_memory
from memzoo.models.big_language_model.big_language_model_presets import PRESETS
from memzoo.models.language_model import LanguageModel
from memzoo.models.presets import register_presets
from memzoo.validation import check_integer
from memzoo.validation import check_rate


@keras.saving.register_keras_serializable(package="memzoo")
class BigLanguageModel(LanguageModel):
    """A causal language model with working memory and long-short-term memory.

    Tokens are embedded, read by `lstm_layers` token-level LSTMs whose state
    carries across calls, then by `num_layers` memory blocks and an LM head.
    Each block attends to a sliding window of the last `working_memory`
    tokens (its own included, reaching back across calls) and reads
    `long_short_term_memory` memory slots that are written through a forget
    and an input gate at the end of every `segment_length` tokens, so what
    happened many windows ago can still reach the output. Time and state
    per token are O(working_memory + long_short_term_memory), whatever the
    length of the stream: one call over a text, the same text in chunks with
    the state carried, and token-by-token generation give the same logits.

    Args:
        vocab_size: int. Size of the token vocabulary.
        embedding_dim: int. Width of the token embeddings.
        hidden_dim: int. Width of the LSTMs and the memory blocks.
        working_memory: int. W >= 1: how many of the most recent tokens each
            position attends to (itself and the W - 1 before it).
            `work_memory` is accepted as an alias.
        long_short_term_memory: int. M >= 0: memory slots per block carried
            from segment to segment; 0 turns the slots off.
        num_layers: int. Number of memory blocks.
        num_heads: int. Attention heads; they divide `hidden_dim` into even
            head sizes.
        segment_length: int. S: tokens between two slot writes (default W).
        lstm_layers: int >= 0. Token-level LSTMs under the blocks.
        dropout: float. Dropout rate.
        slot_memory: str. What the slots are: `"associative"` (addressed
            by key and written by the delta rule, `AssociativeSlots`) or
            `"gated"` (written by attention through LSTM gates,
            `MemorySlots`).
        tokenizer: `None` or `"byte"`. Lets `generate()` take strings.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Example:

    ```python
    model = memzoo.BigLanguageModel(
        vocab_size=10000, embedding_dim=64, hidden_dim=128,
        work_memory=100, long_short_term_memory=50,
    )
    logits = model(np.zeros((1, 40), "int32"))           # [1, 40, 10000]
    state = model.get_initial_state(1)
    logits, state = model(np.zeros((1, 30), "int32"), initial_state=state,
                          return_state=True)
    # How each block used its memory: the window's attention weights
    # [1, heads, 30, W], and the slots' write gates per segment.
    logits, weights = model(np.zeros((1, 30), "int32"),
                            return_memory_weights=True)
    weights[0]["attention"], weights[0]["forget_gate"]
    ```
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        hidden_dim,
        working_memory=None,
        long_short_term_memory=None,
        num_layers=2,
        num_heads=4,
        segment_length=None,
        lstm_layers=1,
        dropout=0.0,
        tokenizer=None,
        work_memory=None,
        slot_memory="gated",
        **kwargs,
    ):
        if work_memory is not None:
            if working_memory is not None and working_memory != work_memory:
                raise ValueError(
                    "Invalid value for argument `work_memory`. Expected it to "
                    "be absent or equal to its alias `working_memory`. "
                    f"Received: work_memory={work_memory!r}, "
                    f"working_memory={working_memory!r}"
                )
            working_memory = work_memory
        vocab_size = check_integer("vocab_size", vocab_size)
        embedding_dim = check_integer("embedding_dim", embedding_dim)
        hidden_dim = check_integer("hidden_dim", hidden_dim)
        working_memory = check_integer("working_memory", working_memory)
        long_short_term_memory = check_integer(
            "long_short_term_memory", long_short_term_memory, minimum=0
        )
        num_layers = check_integer("num_layers", num_layers, minimum=0)
        num_heads = check_integer("num_heads", num_heads)
        if segment_length is not None:
            segment_length = check_integer("segment_length", segment_length)
        lstm_layers = check_integer("lstm_layers", lstm_layers, minimum=0)
        dropout = check_rate("dropout", dropout)
        slot_memory = check_slot_memory(slot_memory)
        if hidden_dim % num_heads or (hidden_dim // num_heads) % 2:
            raise ValueError(
                "Invalid value for argument `num_heads`. Expected a divisor "
                f"of hidden_dim={hidden_dim} that leaves an even head size "
                f"(rotary positions turn pairs of features). Received: "
                f"num_heads={num_heads}"
            )
        self._check_tokenizer(tokenizer, vocab_size)
        super().__init__(**kwargs)

        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.backbone = MemoryBackbone(
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            working_memory=working_memory,
            long_short_term_memory=long_short_term_memory,
            segment_length=segment_length,
            lstm_layers=lstm_layers,
            dropout=dropout,
            slot_memory=slot_memory,
            dtype=self.dtype_policy,
            name="backbone",
        )
        self.dropout_layer = Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.lm_head = keras.layers.Dense(
            vocab_size, dtype=self.dtype_policy, name="lm_head"
        )

        # === Config ===
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.working_memory = working_memory
        self.long_short_term_memory = long_short_term_memory
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.segment_length = segment_length
        self.lstm_layers = lstm_layers
        self.dropout = dropout
        self.slot_memory = slot_memory
        self.tokenizer = tokenizer

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.backbone.build((*input_shape, self.embedding_dim))
        self.lm_head.build((*input_shape, self.hidden_dim))
        self.built = True

    def _constant_in_streams(self, length):
        # Windows of whole segments keep every row at a segment's start, and
        # the slots then align a window by a reshape instead of a gather.
        segment = self.segment_length or self.working_memory
        if length is not None and length % segment == 0:
            return {"segment_position"}
        return set()

    @property
    def blocks(self):
        """The backbone's `MemoryBlock`s."""
        return self.backbone.blocks

    def get_initial_state(self, batch_size):
        """The state at the start of a stream: a dict of fixed-shape tensors
        (see `memzoo.layers.MemoryBackbone.get_initial_state`)."""
        if not self.built:
            self.build((None, None))
        return self.backbone.get_initial_state(batch_size)

    def call(self, token_ids, initial_state=None, return_state=False,
             return_memory_weights=False, training=None):
        """Logits `[batch, time, vocab_size]` of the next token.

        With `return_state`, the state the call ends in follows (for the
        next call's `initial_state`); with `return_memory_weights`, a list
        of each block's `memzoo.layers.MemoryBlock` memory weights: the
        window's attention weights and the slots' write gates.
        """
        token_ids = self._check_token_ids(token_ids)
        if initial_state is not None:
            initial_state = self._check_state(
                initial_state, ops.shape(token_ids)[0]
            )
        x = self.token_embedding(token_ids)
        x = self.dropout_layer(x, training=training)
        x, state, *memory_weights = self.backbone(
            x, initial_state, training=training,
            return_memory_weights=return_memory_weights,
        )
        logits = ops.cast(self.lm_head(x), "float32")
        outputs = (logits, *([state] if return_state else []), *memory_weights)
        return outputs if len(outputs) > 1 else logits

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.vocab_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "working_memory": self.working_memory,
                "long_short_term_memory": self.long_short_term_memory,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "segment_length": self.segment_length,
                "lstm_layers": self.lstm_layers,
                "dropout": self.dropout,
                "slot_memory": self.slot_memory,
                "tokenizer": self.tokenizer,
            }
        )
        return config


register_presets(BigLanguageModel, PRESETS)
