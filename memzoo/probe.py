"""How far back a language model's memory reaches: what `memzoo probe` runs.

A model that carries its state from call to call (window caches, memory
slots, LSTM state) can use text it read long ago. `probe()` measures how
much it does: it reads held-out text as one stream with the state carried,
and again with the state reset every k tokens for several k. For each token
the loss it pays after a reset, less the loss it pays with the state
carried, is what the state was worth at that distance since the reset.

The effective memory length is the distance past which carrying the state
stops helping, within noise: a model with no memory slots and no LSTM
(`long_short_term_memory=0, lstm_layers=0`) sees nothing older than its
attention's reach, `num_layers * (working_memory - 1) + 1` tokens, and its
gain past that is zero.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from memzoo import data
from memzoo.validation import check_integer

# Distances since a reset are summarised in bins [0, 1), [1, 2), [2, 4), ...
# A bin's gain counts as memory when it exceeds twice its standard error and
# this many bits per character (floating point differs in the last digits
# even where the state cannot matter).
TOLERANCE_BITS = 0.002


@dataclasses.dataclass
class ProbeResult:
    """What `probe()` measured, in bits per character (per token).

    Attributes:
        tokens: int. Held-out tokens scored.
        carried: float. Bits per character with the state carried through.
        reset: dict int -> float. Bits per character with the state reset
            every k tokens, by k.
        bin_edges: list of int. Distances since the last reset: bin i is
            `[bin_edges[i], bin_edges[i + 1])`.
        gain: list of float. Per bin, the mean bits per character saved by
            the carried state (positive: it helps), with the state reset
            every `max(reset)` tokens.
        gain_error: list of float. The standard error of each bin's gain,
            over the stretches between resets.
        effective_memory_length: int or `None`. The distance past which the
            carried state stops helping within noise: the end of the last
            bin whose gain is significant (`None`: no bin is, the state
            never helped). Equal to `bin_edges[-1]` when the last bin still
            gains: the memory reaches at least that far.
        gain_beyond: float. The mean gain past the effective memory length
            (negative: carrying the state there hurts), up to `max(reset)`.
        gain_beyond_error: float. Its standard error.
    """

    tokens: int
    carried: float
    reset: dict
    bin_edges: list
    gain: list
    gain_error: list
    effective_memory_length: int
    gain_beyond: float
    gain_beyond_error: float

    def summary(self):
        """The result as lines of text."""
        lines = [
            f"{self.tokens:,} held-out tokens; bits per character with the "
            f"state carried: {self.carried:.4f}",
            f"{'reset every':>12s}{'bits/char':>11s}{'cost':>9s}",
        ]
        for k, bits in sorted(self.reset.items()):
            lines.append(f"{k:12,d}{bits:11.4f}{bits - self.carried:9.4f}")
        lines.append(f"{'distance':>14s}{'gain':>9s}{'+-':>8s}")
        for start, end, gain, error in zip(self.bin_edges, self.bin_edges[1:],
                                           self.gain, self.gain_error):
            lines.append(f"{start:6,d}-{end - 1:<7,d}{gain:9.4f}{error:8.4f}")
        length = self.effective_memory_length
        lines.append(
            "effective memory length: " + (
                "none (carrying the state never helped)" if length is None else
                f">= {length:,} tokens (still gaining at the longest distance "
                "probed)" if length == self.bin_edges[-1] else
                f"{length:,} tokens"
            )
        )
        if self.gain_beyond < -2 * self.gain_beyond_error - TOLERANCE_BITS:
            lines.append(
                f"past it, the carried state costs {-self.gain_beyond:.4f} +- "
                f"{self.gain_beyond_error:.4f} bits per character: starting "
                "afresh would score better"
            )
        return lines

    def plot(self, path):
        """Draws the gain by distance since a reset to `path` (a PNG)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot

        starts = np.maximum(np.asarray(self.bin_edges[:-1]), 0.5)
        figure, axes = pyplot.subplots(figsize=(7, 4))
        axes.errorbar(starts, self.gain, yerr=2 * np.asarray(self.gain_error),
                      marker="o", capsize=3, label="gain (2 standard errors)")
        axes.axhline(0.0, color="gray", linewidth=0.8)
        if self.effective_memory_length is not None:
            axes.axvline(self.effective_memory_length, color="tab:red",
                         linestyle="--", label="effective memory length")
        axes.set_xscale("log", base=2)
        # Linear within a hundredth of a bit, logarithmic past it: the first
        # tokens after a reset gain bits, the memory's reach hundredths.
        axes.set_yscale("symlog", linthresh=0.01)
        axes.set_xlabel("tokens since the state was reset (bins of "
                        "[0, 1), [1, 2), [2, 4), ...)")
        axes.set_ylabel("bits per character saved by the carried state")
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        pyplot.close(figure)


def probe(
    model,
    data_source=None,
    split="test",
    max_tokens=131_072,
    reset_every=(16, 64, 256, 1024, 4096),
    chunk_length=256,
    data_dir=None,
):
    """Measures how far back `model`'s carried state helps on held-out text.

    Args:
        model: a zoo language model (`get_initial_state` and
            `call(..., initial_state, return_state)`) with a tokenizer.
        data_source: a corpus (tfds name, files; `None`: the default one).
        split: str. Its held-out split; the texts are read one after the
            other as one stream, each ending with the end-of-text token.
        max_tokens: int. Tokens scored (fewer if the split is shorter).
        reset_every: ints. The distances k between resets; each above
            `chunk_length` is a multiple of it. The largest sets the bins of
            the gain by distance, and should leave at least 8 stretches.
        chunk_length: int. Tokens read per call (the scores do not depend on
            it, only the speed).
        data_dir: str or `None`. The tensorflow-datasets folder.

    Returns:
        A `ProbeResult`.

    Example:

    ```python
    import memzoo.probe

    model = memzoo.BigLanguageModel.from_preset("biglm_tiny")
    result = memzoo.probe.probe(model, max_tokens=4096,
                                reset_every=(16, 64, 256))
    print("\\n".join(result.summary()))
    ```
    """
    max_tokens = check_integer("max_tokens", max_tokens, minimum=2)
    chunk_length = check_integer("chunk_length", chunk_length)
    reset_every = sorted({check_integer("reset_every", k) for k in reset_every})
    if not reset_every:
        raise ValueError("Invalid value for argument `reset_every`. Expected "
                         "at least one distance. Received: reset_every=()")
    for k in reset_every:
        if k > chunk_length and k % chunk_length:
            raise ValueError(
                "Invalid value for argument `reset_every`. Expected "
                f"distances up to chunk_length={chunk_length} or multiples "
                f"of it. Received: {k}"
            )
    longest = reset_every[-1]
    ids = held_out_ids(model, data_source, split, max_tokens, data_dir)
    # Every run scores the same tokens: a whole number of the longest
    # stretches.
    length = (len(ids) - 1) // longest * longest
    if length < 2 * longest:
        raise ValueError(
            "Invalid value for argument `reset_every`. Expected at most half "
            f"of the {len(ids) - 1:,} tokens the split gives. Received: a "
            f"longest distance of {longest:,}"
        )
    ids = ids[:length + 1]
    carried = stream_losses(model, ids, None, chunk_length)
    reset_losses = {k: stream_losses(model, ids, k, chunk_length)
                    for k in reset_every}
    bits = 1.0 / math.log(2.0)
    # Gain of each token, in stretches of the longest distance: rows are
    # stretches, columns the distance since the reset.
    gains = ((reset_losses[longest] - carried) * bits).reshape(-1, longest)
    edges = [0, 1] + [2**i for i in range(1, int(math.log2(longest)) + 1)]
    if edges[-1] != longest:
        edges.append(longest)
    gain, error = [], []
    for start, end in zip(edges, edges[1:]):
        per_stretch = gains[:, start:end].mean(axis=1)
        gain.append(float(per_stretch.mean()))
        error.append(float(per_stretch.std(ddof=1) / math.sqrt(len(per_stretch))))
    significant = [g > 2 * e + TOLERANCE_BITS for g, e in zip(gain, error)]
    last = max((i for i, s in enumerate(significant) if s), default=None)
    reach = None if last is None else edges[last + 1]
    beyond = gains[:, min(reach or 0, longest - 1):].mean(axis=1)
    return ProbeResult(
        tokens=length,
        carried=float(carried.mean() * bits),
        reset={k: float(losses.mean() * bits)
               for k, losses in reset_losses.items()},
        bin_edges=edges,
        gain=gain,
        gain_error=error,
        effective_memory_length=reach,
        gain_beyond=float(beyond.mean()),
        gain_beyond_error=float(beyond.std(ddof=1) / math.sqrt(len(beyond))),
    )


def held_out_ids(model, data_source, split, max_tokens=None, data_dir=None):
    """The first `max_tokens + 1` token ids (`None`: all) of the split's
    texts read one after the other (each ending with the end-of-text id):
    int32 `[time]`.

    Example:

    ```python
    import memzoo.probe

    texts = tf.data.Dataset.from_tensor_slices(["To be, or not to be"])
    memzoo.probe.held_out_ids(None, texts, "test", max_tokens=4)
    # the ids of "To be" (5 tokens: 4 predicted, and the one after)
    ```
    """
    if data_source is None:
        data_source, _ = data.default_corpus_files()
    tokenizer = getattr(model, "tokenizer", None) or "byte"
    tokenize = data.pipelines._tokenize_function(tokenizer, add_end=True)
    pieces, count = [], 0
    for text in data.text_dataset(data_source, split, data_dir):
        pieces.append(np.asarray(tokenize(text), np.int32))
        count += len(pieces[-1])
        if max_tokens is not None and count > max_tokens:
            break
    if not pieces:
        raise ValueError(
            "Invalid value for argument `data_source`. Expected texts in "
            f"split {split!r}. Received: none in {data_source!r}"
        )
    ids = np.concatenate(pieces)
    return ids if max_tokens is None else ids[:max_tokens + 1]


def stream_losses(model, ids, reset_every=None, chunk_length=256, rows=64):
    """The loss in nats of each next token of `ids` (`ids[1:]` given what
    comes before), read as one stream with the state carried from call to
    call and reset every `reset_every` tokens (`None`: never).

    A stream reset every k tokens is its stretches of k tokens read side by
    side, `rows` at a time, each from a fresh state.

    Example:

    ```python
    import memzoo.probe

    model = memzoo.BigLanguageModel.from_preset("biglm_tiny")
    ids = np.arange(3, 68, dtype="int32")                 # 64 predictions
    carried = memzoo.probe.stream_losses(model, ids, chunk_length=16)
    reset = memzoo.probe.stream_losses(model, ids, reset_every=16)
    carried.shape, reset.shape                             # (64,), (64,)
    ```
    """
    ids = np.asarray(ids, np.int32)
    length = len(ids) - 1
    stretch = length if reset_every is None else reset_every
    if length % stretch:
        raise ValueError(
            "Invalid value for argument `reset_every`. Expected a divisor of "
            f"the {length:,} tokens scored. Received: {reset_every}"
        )
    inputs = ids[:-1].reshape(-1, stretch)
    targets = ids[1:].reshape(-1, stretch)
    chunk = min(chunk_length, stretch)
    read = _read_function(model)
    losses = []
    for first in range(0, len(inputs), rows):
        group = slice(first, first + rows)
        state = model.get_initial_state(len(inputs[group]))
        for start in range(0, stretch, chunk):
            window = slice(start, start + chunk)
            loss, state = read(tf.constant(inputs[group, window]),
                               tf.constant(targets[group, window]), state)
            losses.append((first, start, loss.numpy()))
    result = np.zeros(inputs.shape, np.float32)
    for first, start, loss in losses:
        result[first:first + len(loss), start:start + loss.shape[1]] = loss
    return result.reshape(-1)


def _read_function(model):
    """A traced `(inputs, targets, state) -> (losses, state)` of `model`."""
    function = model.__dict__.get("_probe_read")
    if function is None:
        @tf.function(reduce_retracing=True)
        def function(inputs, targets, state):
            logits, state = model(inputs, initial_state=state,
                                  return_state=True, training=False)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                targets, tf.cast(logits, tf.float32))
            return losses, state

        model.__dict__["_probe_read"] = function
    return function
