import codecs

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from memzoo import generation
from memzoo.data import get_tokenizer
from memzoo.metrics import BitsPerCharacter
from memzoo.models.presets import PresetMixin


class LanguageModel(PresetMixin, keras.Model):
    """Base class of memzoo's causal language models.

    A subclass builds its layers, implements `get_initial_state(batch_size)`
    (a dict of fixed-shape tensors) and
    `call(token_ids, initial_state=None, return_state=False, training=None)`
    returning float32 logits `[batch, time, vocab_size]` (and the new state).
    This class adds what every language model shares: `from_preset()`, a
    `compile()` with sensible defaults that makes the recurrent layers
    XLA-compatible when `jit_compile=True`, and `generate()`.
    """

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        jit_compile="auto",
        **kwargs,
    ):
        """`keras.Model.compile` with next-token defaults.

        `"auto"` means Adam (learning rate 1e-3), sparse categorical
        cross-entropy on logits, token accuracy and bits per character.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                BitsPerCharacter(),
            ]
        if jit_compile is True:
            self._use_xla_compatible_layers()
        super().compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=jit_compile,
            **kwargs,
        )

    def compile_from_config(self, config):
        """Recompiles a loaded model as it was saved (loss, metrics, optimizer).

        Keras skips a custom `compile()` on loading; this one takes Keras's
        own arguments, so the saved ones apply unchanged.
        """
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @staticmethod
    def _check_tokenizer(tokenizer, vocab_size):
        instance = get_tokenizer(tokenizer)
        if instance is not None and instance.vocabulary_size > vocab_size:
            raise ValueError(
                "Invalid value for argument `vocab_size`. Expected at least "
                f"{instance.vocabulary_size}, the size of the {tokenizer!r} "
                f"tokenizer's vocabulary. Received: vocab_size={vocab_size}"
            )

    @staticmethod
    def _whole_ids(token_ids):
        """Float ids that are whole numbers, cast to int32; others refused.

        Keras's distributed `fit` averages a batch of integer ids into floats
        when it builds a model symbolically, so whole-valued floats are
        accepted, as `keras.layers.Embedding` accepts them.
        """
        message = (
            "Invalid value for argument `token_ids`. Expected integer token "
            f"ids. Received: dtype={token_ids.dtype.name} with fractions"
        )
        if tf.executing_eagerly():
            if not bool(tf.reduce_all(tf.equal(tf.floor(token_ids), token_ids))):
                raise ValueError(message)
        else:
            tf.debugging.assert_equal(tf.floor(token_ids), token_ids, message)
        return tf.cast(token_ids, "int32")

    def _check_token_ids(self, token_ids):
        """Refuses ids outside [0, vocab_size) instead of reading garbage.

        Eagerly this raises a `ValueError`; in a `tf.function` an assertion
        raises `InvalidArgumentError`. XLA drops assertions (and clamps
        out-of-range gathers), so compiled callers check their inputs first,
        as `generate()` and the data pipelines do.
        """
        token_ids = ops.convert_to_tensor(token_ids)
        if not token_ids.dtype.is_integer:
            token_ids = self._whole_ids(token_ids)
        if tf.executing_eagerly():
            if not tf.size(token_ids):
                return token_ids
            low, high = int(tf.reduce_min(token_ids)), int(tf.reduce_max(token_ids))
            if low < 0 or high >= self.vocab_size:
                raise ValueError(
                    "Invalid value for argument `token_ids`. Expected ids in "
                    f"[0, {self.vocab_size}). Received: ids from {low} to {high}"
                )
            return token_ids
        message = f"`token_ids` must be in [0, {self.vocab_size})"
        with tf.control_dependencies([
            tf.debugging.assert_non_negative(token_ids, message=message),
            tf.debugging.assert_less(
                token_ids, tf.cast(self.vocab_size, token_ids.dtype),
                message=message,
            ),
        ]):
            return tf.identity(token_ids)

    def get_initial_state(self, batch_size):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `get_initial_state()`."
        )

    def generate(
        self, prompt, max_new_tokens=64, sampler="greedy", seed=None,
        jit_compile=None,
    ):
        """Continues a prompt, carrying the model state from token to token.

        Args:
            prompt: a string or list of strings (needs the model's
                `tokenizer`), or token ids: a 1-D or 2-D array, or a list of
                lists of different lengths.
            max_new_tokens: int. How many tokens to add to each prompt.
            sampler: `"greedy"`, `"random"`, `"top_k"`, `"top_p"` or a
                `memzoo.generation.Sampler` such as `TopKSampler(k=5,
                temperature=0.8)`.
            seed: int or `None`. The same seed gives the same continuation.
            jit_compile: bool or `None`. Compile the decode loop with XLA;
                `None` follows `compile(jit_compile=...)` and is off before.

        Returns:
            The prompt followed by its continuation, in the prompt's form:
            strings for strings (cut at the end-of-text token), ids for ids.
        """
        if jit_compile is None:
            jit_compile = self.compiled and self.jit_compile is True
        if jit_compile:
            self._use_xla_compatible_layers()
        if isinstance(prompt, str):
            return self.generate(
                [prompt], max_new_tokens, sampler, seed, jit_compile
            )[0]
        if _is_list_of_strings(prompt):
            return self._generate_text(
                prompt, max_new_tokens, sampler, seed, jit_compile
            )
        prompts, form = _as_id_lists(prompt)
        outputs = generation.generate_ids(
            self, prompts, max_new_tokens, sampler, seed, jit_compile
        )
        if form == "1d":
            return outputs[0]
        if form == "2d":
            return np.stack(outputs)
        return outputs

    def stream(self, prompt, max_new_tokens=64, sampler="greedy", seed=None):
        """Yields a string prompt's continuation piece by piece, as made.

        The same text as `generate(prompt, ..., jit_compile=False)` with the
        same seed, without the prompt; pieces are whole characters (bytes
        of a character split across tokens wait for the rest).

        Example:

        ```python
        model = memzoo.BigLanguageModel.from_preset("biglm_tiny")
        for piece in model.stream("To be", max_new_tokens=8, seed=1):
            print(piece, end="", flush=True)
        ```
        """
        tokenizer = self._text_tokenizer()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        ids = generation.stream_ids(
            self, tokenizer.encode(prompt, add_start=True), max_new_tokens,
            sampler, seed,
        )
        for token in ids:
            if token == tokenizer.end_id:
                break
            piece = decoder.decode(tokenizer.detokenize([token]).numpy())
            if piece:
                yield piece
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest

    def _text_tokenizer(self):
        tokenizer = get_tokenizer(getattr(self, "tokenizer", None))
        if tokenizer is None:
            raise ValueError(
                "Invalid value for argument `prompt`. Expected token ids, "
                f"since this {type(self).__name__} has no tokenizer. Received: "
                "strings. Build the model with `tokenizer='byte'` (as the "
                "presets are) or tokenize the prompt yourself."
            )
        return tokenizer

    def _generate_text(self, texts, max_new_tokens, sampler, seed, jit_compile):
        tokenizer = self._text_tokenizer()
        prompts = [tokenizer.encode(text, add_start=True) for text in texts]
        outputs = generation.generate_ids(
            self, prompts, max_new_tokens, sampler, seed, jit_compile
        )
        texts = []
        for prompt, ids in zip(prompts, outputs):
            new_ids = ids[len(prompt) :].tolist()
            if tokenizer.end_id in new_ids:
                new_ids = new_ids[: new_ids.index(tokenizer.end_id)]
            texts.append(tokenizer.decode(prompt + new_ids))
        return texts

    def _use_xla_compatible_layers(self):
        # A cuDNN LSTM or GRU is not XLA-compatible (keras issue 18456) and
        # Keras then silently turns XLA off; the generic kernels compile.
        for layer in self._flatten_layers():
            if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
                layer.use_cudnn = False
                layer.supports_jit = True


def _is_list_of_strings(prompt):
    return (
        isinstance(prompt, (list, tuple))
        and len(prompt) > 0
        and all(isinstance(p, str) for p in prompt)
    )


def _as_id_lists(prompt):
    """Prompt ids -> (list of id lists, the form to give the output back in)."""
    if hasattr(prompt, "numpy"):
        prompt = prompt.numpy()
    if isinstance(prompt, np.ndarray):
        if prompt.ndim == 1:
            return [prompt], "1d"
        if prompt.ndim == 2:
            return list(prompt), "2d"
        raise ValueError(
            "Invalid value for argument `prompt`. Expected ids of shape "
            f"[time] or [batch, time]. Received: shape={prompt.shape}"
        )
    if isinstance(prompt, (list, tuple)) and prompt:
        if all(isinstance(p, (int, np.integer)) for p in prompt):
            return [list(prompt)], "1d"
        return [list(p) for p in prompt], "list"
    raise ValueError(
        "Invalid value for argument `prompt`. Expected a string, a list of "
        "strings, or token ids. Received: "
        f"{type(prompt).__name__} {prompt!r:.80}"
    )
