import codecs

import keras
import numpy as np
import tensorflow as tf

from memzoo import generation
from memzoo.data import get_tokenizer
from memzoo.metrics import BitsPerCharacter
from memzoo.models import serving
from memzoo.models.next_token_model import NextTokenModel


class LanguageModel(NextTokenModel):
    """Base class of memzoo's causal language models.

    A subclass builds its layers, implements `get_initial_state(batch_size)`
    (a dict of fixed-shape tensors) and
    `call(token_ids, initial_state=None, return_state=False, training=None)`
    returning float32 logits `[batch, time, vocab_size]` (and the new state).
    This class adds what every language model shares to `ZooModel`'s
    `from_preset()` and `compile()`: next-token compile defaults and
    `generate()`.
    """

    def compile_defaults(self):
        """Adam (learning rate 1e-3), sparse categorical cross-entropy on
        logits, token accuracy and bits per character."""
        return {
            "optimizer": keras.optimizers.Adam(1e-3),
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": [
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                BitsPerCharacter(),
            ],
        }

    def get_initial_state(self, batch_size):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `get_initial_state()`."
        )

    def generate(
        self, prompt, max_new_tokens=64, sampler="greedy", seed=None,
        jit_compile="auto",
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
            jit_compile: bool or `"auto"`. Compile the decode loop with
                XLA. `"auto"` does, on every device: on 2 CPU cores a
                `biglm_tiny` token took 0.19 ms with XLA and 1.9 ms without
                (`benchmarks/generate_scaling.py`). XLA compiles the loop
                once per batch size and power-of-two bucket of new tokens
                (seconds); `False` skips that for a one-off call.

        Returns:
            The prompt followed by its continuation, in the prompt's form:
            strings for strings (cut at the end-of-text token), ids for ids.
        """
        if isinstance(jit_compile, str) and jit_compile == "auto":
            jit_compile = True
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

    def add_serving_endpoints(self, archive, limits, tokenizer=None):
        """`serving_default` (`token_ids` -> `logits`), `initial_state` and
        `step`, and with a tokenizer (`None`: the model's own) `generate`
        and `generate_sampled` (see `memzoo.export`)."""
        requests = serving.add_stateful_endpoints(archive, self, limits)
        tokenizer = get_tokenizer(
            getattr(self, "tokenizer", None) if tokenizer is None else tokenizer
        )
        if tokenizer is not None:
            requests.update(_add_generate_endpoints(archive, self, tokenizer, limits))
        return requests

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


class _ServingSampler(generation.Sampler):
    """Greedy when `temperature` <= 0, else top-`top_k` sampling (0: all)."""

    def __init__(self, temperature, top_k):
        self.temperature = temperature
        self.top_k = top_k

    def sample(self, logits, seed):
        vocab_size = tf.shape(logits)[-1]
        k = tf.where(self.top_k > 0, tf.minimum(self.top_k, vocab_size), vocab_size)
        kth = tf.reduce_min(tf.math.top_k(logits, k).values, axis=-1, keepdims=True)
        filtered = tf.where(logits >= kth, logits, tf.fill(tf.shape(logits), -1e9))
        scaled = filtered / tf.maximum(self.temperature, 1e-6)
        sampled = tf.random.stateless_categorical(scaled, 1, seed=seed, dtype=tf.int32)[:, 0]
        greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return tf.where(self.temperature > 0, sampled, greedy)


def _add_generate_endpoints(archive, model, tokenizer, limits):
    """`generate` (greedy) and `generate_sampled`: prompts -> texts, the
    tokenizer and the decode loop in the graph. Returns their warm-up
    requests."""
    prompt_spec = tf.TensorSpec([None], tf.string, name="prompt")
    max_new_tokens_spec = tf.TensorSpec([], tf.int32, name="max_new_tokens")

    def generate_text(prompt, max_new_tokens, temperature, top_k, seed):
        ids = tokenizer.tokenize(prompt, add_start=True)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        checks = [
            # An empty batch would leave the decode loop without a length.
            *serving.text_checks(lengths, "prompt", limits, minimum=1),
            serving.assert_in_range(max_new_tokens, 0, limits["max_new_tokens"],
                             "max_new_tokens", "max_new_tokens"),
        ]
        # Everything below, the padding to `num_steps` first, waits for them.
        with tf.control_dependencies(checks):
            dense = ids.to_tensor()
            max_new_tokens = tf.identity(max_new_tokens)
        shortest = tf.reduce_min(lengths)
        # As `generate()`: the common prefix in one call, then the rest of
        # longer prompts forced token by token while the others sample.
        num_steps = tf.shape(dense)[1] - shortest + max_new_tokens
        rest = dense[:, shortest:]
        forced = tf.pad(rest, [[0, 0], [0, num_steps - tf.shape(rest)[1]]])
        forced_mask = tf.range(num_steps)[tf.newaxis, :] < (lengths - shortest)[:, tf.newaxis]
        logits, state = model(
            dense[:, :shortest], return_state=True, training=False
        )
        decode = generation._decode_loop(model, _ServingSampler(temperature, top_k))
        new_ids = decode(logits[:, -1, :], state, forced, forced_mask, seed,
                         num_steps)
        full = tf.concat([dense[:, :shortest], new_ids], axis=1)
        # Each text ends at its first end-of-text token after the prompt.
        positions = tf.range(tf.shape(full)[1])[tf.newaxis, :]
        after_prompt = positions >= lengths[:, tf.newaxis]
        ends = (full == tokenizer.end_id) & after_prompt
        limit = lengths + max_new_tokens
        first_end = tf.reduce_min(
            tf.where(ends, positions, tf.fill(tf.shape(full), tf.shape(full)[1])), axis=1
        )
        text_lengths = tf.minimum(first_end, limit)
        texts = tokenizer.detokenize(tf.RaggedTensor.from_tensor(full, lengths=text_lengths))
        return {"text": serving.valid_utf8(texts)}

    archive.add_endpoint(
        "generate",
        lambda prompt, max_new_tokens: generate_text(
            prompt, max_new_tokens, tf.constant(0.0), tf.constant(0), tf.constant(0)
        ),
        input_signature=[prompt_spec, max_new_tokens_spec],
    )
    archive.add_endpoint(
        "generate_sampled",
        generate_text,
        input_signature=[
            prompt_spec,
            max_new_tokens_spec,
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ],
    )
    generate_inputs = {"prompt": np.array([b"Hello"]), "max_new_tokens": np.int32(4)}
    return {
        "generate": generate_inputs,
        "generate_sampled": {
            **generate_inputs,
            "temperature": np.float32(1.0),
            "top_k": np.int32(0),
            "seed": np.int32(0),
        },
    }
