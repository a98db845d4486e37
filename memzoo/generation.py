"""Samplers and the compiled decode loop shared by every memzoo language model.

A language model here is anything with `get_initial_state(batch_size)` and
`model(token_ids, initial_state=state, return_state=True) -> (logits, state)`,
where `initial_state=None` starts a stream.
The decode loop feeds one token at a time with the state carried, so the cost
of a new token does not depend on how long the text already is.

Keras has no sampling utilities of its own (they live in keras-hub, which is
not a dependency) and no decode loop over an explicit recurrent state, so both
are written here with `tf.while_loop` and stateless random ops: a seed gives
the same tokens eagerly, in a `tf.function` and under XLA.
"""

import numpy as np
import tensorflow as tf

from memzoo.validation import check_integer


class Sampler:
    """Picks the next token from logits `[batch, vocab]`.

    Subclasses implement `sample(logits, seed)`, where `seed` is an int32
    tensor of shape `[2]` for stateless random ops.
    """

    def __call__(self, logits, seed):
        return tf.cast(self.sample(tf.cast(logits, tf.float32), seed), tf.int32)

    def sample(self, logits, seed):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class GreedySampler(Sampler):
    """Always picks the most likely token.

    Example:

    ```python
    logits = tf.constant([[0.1, 2.0, 0.3]])
    memzoo.generation.GreedySampler()(logits, seed=tf.constant([0, 0]))  # [1]
    ```
    """

    def sample(self, logits, seed):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)


class RandomSampler(Sampler):
    """Samples from the softmax of `logits / temperature`.

    Example:

    ```python
    sampler = memzoo.generation.RandomSampler(temperature=0.7)
    sampler(tf.constant([[0.1, 2.0, 0.3]]), seed=tf.constant([1, 0]))
    ```
    """

    def __init__(self, temperature=1.0):
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ValueError(
                "Invalid value for argument `temperature`. Expected a "
                f"strictly positive number. Received: temperature={temperature!r}"
            )
        self.temperature = float(temperature)

    def sample(self, logits, seed):
        return self._categorical(logits / self.temperature, seed)

    def _categorical(self, logits, seed):
        samples = tf.random.stateless_categorical(
            logits, 1, seed=seed, dtype=tf.int32
        )
        return samples[:, 0]

    def get_config(self):
        return {"temperature": self.temperature}


class TopKSampler(RandomSampler):
    """Samples among the `k` most likely tokens.

    Example:

    ```python
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    model.generate("To be", max_new_tokens=8, seed=1,
                   sampler=memzoo.generation.TopKSampler(k=5, temperature=0.8))
    ```
    """

    def __init__(self, k=10, temperature=1.0):
        super().__init__(temperature)
        self.k = check_integer("k", k)

    def sample(self, logits, seed):
        k = min(self.k, int(logits.shape[-1]))
        top_logits, top_ids = tf.math.top_k(logits, k=k)
        choice = self._categorical(top_logits / self.temperature, seed)
        return tf.gather(top_ids, choice, batch_dims=1)

    def get_config(self):
        return {"k": self.k, **super().get_config()}


class TopPSampler(RandomSampler):
    """Nucleus sampling: samples among the fewest tokens whose mass reaches `p`.

    Example:

    ```python
    sampler = memzoo.generation.TopPSampler(p=0.9)
    sampler(tf.constant([[0.1, 2.0, 0.3]]), seed=tf.constant([1, 0]))
    ```
    """

    def __init__(self, p=0.9, temperature=1.0):
        super().__init__(temperature)
        if not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ValueError(
                "Invalid value for argument `p`. Expected a number in (0, 1]. "
                f"Received: p={p!r}"
            )
        self.p = float(p)

    def sample(self, logits, seed):
        logits = logits / self.temperature
        sorted_logits, sorted_ids = tf.math.top_k(logits, k=int(logits.shape[-1]))
        probabilities = tf.nn.softmax(sorted_logits, axis=-1)
        mass_before = tf.cumsum(probabilities, axis=-1, exclusive=True)
        # The most likely token is always kept, so the nucleus is never empty.
        keep = mass_before < self.p
        sorted_logits = tf.where(keep, sorted_logits, tf.float32.min)
        choice = self._categorical(sorted_logits, seed)
        return tf.gather(sorted_ids, choice, batch_dims=1)

    def get_config(self):
        return {"p": self.p, **super().get_config()}


SAMPLERS = {
    "greedy": GreedySampler,
    "random": RandomSampler,
    "temperature": RandomSampler,
    "top_k": TopKSampler,
    "top_p": TopPSampler,
}


def get_sampler(identifier):
    """Returns a `Sampler` for a name in `SAMPLERS` or a `Sampler` instance."""
    if isinstance(identifier, Sampler):
        return identifier
    if isinstance(identifier, str) and identifier in SAMPLERS:
        return SAMPLERS[identifier]()
    raise ValueError(
        "Invalid value for argument `sampler`. Expected one of "
        f"{sorted(SAMPLERS)} or a `memzoo.generation.Sampler`. Received: "
        f"sampler={identifier!r}"
    )


def generate_ids(
    model, prompts, max_new_tokens, sampler="greedy", seed=None, jit_compile=False
):
    """Continues each prompt by `max_new_tokens` tokens.

    Args:
        model: a memzoo language model (see the module docstring).
        prompts: list of lists of int ids, each non-empty; lengths may differ.
        max_new_tokens: int >= 0.
        sampler: a name in `SAMPLERS` or a `Sampler`.
        seed: int or `None`. The same seed gives the same tokens.
        jit_compile: bool. Whether to compile the decode loop with XLA.

    Returns:
        A list of int32 numpy arrays: each prompt followed by its new tokens.
    """
    max_new_tokens = check_integer("max_new_tokens", max_new_tokens, minimum=0)
    prompts = _check_prompts(prompts, model.vocab_size)
    sampler = get_sampler(sampler)
    if seed is None:
        seed = np.random.randint(0, 2**31 - 1)
    lengths = [len(p) for p in prompts]
    shortest = min(lengths)
    # The common prefix is read in one call; the rest of the longer prompts is
    # fed token by token, forced in place of the sampled token.
    num_steps = max(lengths) - shortest + max_new_tokens
    if num_steps == 0:
        return [np.asarray(p, dtype=np.int32) for p in prompts]
    prefix = np.array([p[:shortest] for p in prompts], dtype=np.int32)
    forced = np.zeros((len(prompts), num_steps), dtype=np.int32)
    forced_mask = np.zeros((len(prompts), num_steps), dtype=bool)
    for row, prompt in enumerate(prompts):
        rest = prompt[shortest:]
        forced[row, : len(rest)] = rest
        forced_mask[row, : len(rest)] = True
    if not getattr(model, "built", True):
        # Variables made inside the first trace would make `tf.function`
        # trace the loop twice.
        model.build((None, None))
    read, decode = _decode_functions(model, sampler, bool(jit_compile))
    logits, state = read(prefix)
    # The loop's arrays are padded to a power of two (at least 64) and the
    # steps are a tensor, so XLA compiles once per batch size and bucket
    # rather than once per prompt and length (4.5 s each for biglm_tiny).
    bucket = max(64, 1 << (num_steps - 1).bit_length())
    padding = ((0, 0), (0, bucket - num_steps))
    new_ids = decode(
        logits, state, np.pad(forced, padding), np.pad(forced_mask, padding),
        tf.constant(int(seed), tf.int32), tf.constant(num_steps, tf.int32),
    ).numpy()
    return [
        np.concatenate([prefix[row], new_ids[row, : length - shortest + max_new_tokens]])
        for row, length in enumerate(lengths)
    ]


def stream_ids(model, prompt, max_new_tokens, sampler="greedy", seed=None):
    """Yields the new ids of one prompt's continuation as they are made.

    Draws the same tokens as `generate_ids(..., jit_compile=False)` with the
    same seed, one compiled step per token, so a caller can show each token
    before the next exists.

    Args:
        model: a memzoo language model.
        prompt: list of int ids, non-empty.
        max_new_tokens: int >= 0.
        sampler: a name in `SAMPLERS` or a `Sampler`.
        seed: int or `None`.

    Yields:
        int ids.
    """
    max_new_tokens = check_integer("max_new_tokens", max_new_tokens, minimum=0)
    (prompt,) = _check_prompts([prompt], model.vocab_size)
    sampler = get_sampler(sampler)
    if seed is None:
        seed = np.random.randint(0, 2**31 - 1)
    if max_new_tokens == 0:
        return
    read, step = _stream_functions(model, sampler)
    logits, state = read(tf.constant([prompt], tf.int32), model.get_initial_state(1))
    seed = tf.constant(int(seed), tf.int32)
    for index in range(max_new_tokens):
        token, logits, state = step(logits, state, tf.constant(index), seed)
        yield int(token[0])


def _stream_functions(model, sampler):
    """Compiled prompt reading and single decode step, cached per sampler."""
    cache = model.__dict__.setdefault("_memzoo_stream_functions", {})
    key = (type(sampler).__name__, tuple(sorted(sampler.get_config().items())))
    if key not in cache:

        def read(prompt, state):
            logits, state = model(
                prompt, initial_state=state, return_state=True, training=False
            )
            return logits[:, -1, :], state

        def step(last_logits, state, index, seed):
            token = sampler(last_logits, seed=tf.stack([seed, index]))
            logits, state = model(
                token[:, None], initial_state=state, return_state=True,
                training=False,
            )
            return token, logits[:, -1, :], state

        cache[key] = (
            tf.function(read, reduce_retracing=True),
            tf.function(step, reduce_retracing=True),
        )
    return cache[key]


def _check_prompts(prompts, vocab_size):
    checked = []
    for prompt in prompts:
        prompt = np.asarray(prompt)
        if prompt.ndim != 1 or prompt.size == 0:
            raise ValueError(
                "Invalid value for argument `prompt`. Expected non-empty "
                f"sequences of token ids. Received: a prompt of shape {prompt.shape}"
            )
        if not np.issubdtype(prompt.dtype, np.integer):
            raise ValueError(
                "Invalid value for argument `prompt`. Expected integer token "
                f"ids or strings. Received: dtype={prompt.dtype}"
            )
        if prompt.min() < 0 or prompt.max() >= vocab_size:
            raise ValueError(
                "Invalid value for argument `prompt`. Expected token ids in "
                f"[0, {vocab_size}). Received: ids from {prompt.min()} to "
                f"{prompt.max()}"
            )
        checked.append(prompt.astype(np.int32).tolist())
    if not checked:
        raise ValueError(
            "Invalid value for argument `prompt`. Expected at least one "
            "prompt. Received: an empty batch"
        )
    return checked


def _decode_functions(model, sampler, jit_compile):
    """The prompt reader and the decode loop for `model`, cached per sampler
    and XLA flag.

    The prompt is read by one call outside XLA: under XLA every prompt
    length would be compiled anew, and one parallel call gains little from
    it. The loop, one token a step, is where XLA pays (per token, 10x
    faster than TensorFlow's executor for `biglm_tiny` on 2 CPU cores).
    """
    cache = model.__dict__.setdefault("_memzoo_decode_functions", {})
    key = (type(sampler).__name__, tuple(sorted(sampler.get_config().items())),
           jit_compile)
    if key not in cache:
        # Traced once for any batch, prompt length and number of new tokens:
        # traced for the first call's shapes, each would be traced again,
        # ~3 s for a memory model, at the next.
        ids = tf.TensorSpec([None, None], tf.int32)
        state = tf.nest.map_structure(
            lambda value: tf.TensorSpec([None, *value.shape[1:]], value.dtype),
            model.get_initial_state(1),
        )
        logits = tf.TensorSpec([None, model.vocab_size], tf.float32)
        scalar = tf.TensorSpec([], tf.int32)

        def read(prefix):
            logits, state = model(
                prefix, initial_state=None, return_state=True, training=False
            )
            return logits[:, -1, :], state

        cache[key] = (
            tf.function(read, input_signature=[ids]),
            tf.function(
                _decode_loop(model, sampler), jit_compile=jit_compile,
                input_signature=[logits, state, ids,
                                 tf.TensorSpec([None, None], tf.bool),
                                 scalar, scalar],
            ),
        )
    return cache[key]


def _decode_loop(model, sampler):
    def decode(logits, state, forced, forced_mask, seed, num_steps):
        new_ids = tf.TensorArray(tf.int32, size=tf.shape(forced)[1])

        def step(index, last_logits, state, new_ids):
            sampled = sampler(last_logits, seed=tf.stack([seed, index]))
            token = tf.where(forced_mask[:, index], forced[:, index], sampled)
            new_ids = new_ids.write(index, token)
            logits, state = model(
                token[:, None], initial_state=state, return_state=True,
                training=False,
            )
            return index + 1, logits[:, -1, :], state, new_ids

        _, _, _, new_ids = tf.while_loop(
            lambda index, *_: index < num_steps,
            step,
            (tf.constant(0), logits, state, new_ids),
            maximum_iterations=tf.shape(forced)[1],
        )
        # Steps past `num_steps` were never written: zeros, cut by the caller.
        return tf.transpose(new_ids.stack())

    return decode
