import keras
import numpy as np

from memzoo import generation
from memzoo.data import get_tokenizer
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
        cross-entropy on logits and token accuracy.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if jit_compile is True:
            self._use_xla_compatible_layers()
        super().compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=jit_compile,
            **kwargs,
        )

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

    def _generate_text(self, texts, max_new_tokens, sampler, seed, jit_compile):
        tokenizer = get_tokenizer(getattr(self, "tokenizer", None))
        if tokenizer is None:
            raise ValueError(
                "Invalid value for argument `prompt`. Expected token ids, "
                f"since this {type(self).__name__} has no tokenizer. Received: "
                "strings. Build the model with `tokenizer='byte'` (as the "
                "presets are) or tokenize the prompt yourself."
            )
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
