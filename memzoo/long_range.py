"""Recall at a distance: what `memzoo eval --long-range` runs.

Bits per character are mostly local: a model scores well on them with what
its attention sees. Memory shows in what a model recalls from further back
than that. `long_range()` measures it two ways, by distance:

* **Pass key in real text.** "The pass key is 48213. Remember it. 48213 is
  the pass key." is hidden in held-out text of the model's own corpus
  (after `depth` bytes of it), followed by `distance` more bytes of it and
  "What is the pass key? The pass key is ". The model reads it all as one
  stream with its state carried and is scored on the 5 digits: greedy
  exact match (all 5 digits its argmax, each given the ones before),
  per-digit accuracy (chance 0.1), and bits per digit (chance 3.32).
* **Multi-query associative recall** (`memzoo.data.tasks.
  multi_query_associative_recall`) with a gap between the pairs and the
  queries: answer accuracy (chance 0.1).

The attention's reach, `num_layers * (working_memory - 1) + 1` for a
`BigLanguageModel`, is reported beside the distances: past it, only the
carried state (slots, LSTM) can recall. For memory slots, the slots'
diversity after a long passage: the mean pairwise cosine of each block's
slots (1.0: copies of one another).
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from memzoo import data
from memzoo.data import tasks
from memzoo.probe import held_out_ids
from memzoo.validation import check_integer

PASSKEY_INTRO = "The pass key is {key}. Remember it. {key} is the pass key. "
PASSKEY_QUESTION = "What is the pass key? The pass key is "


@dataclasses.dataclass
class LongRangeResult:
    """What `long_range()` measured.

    Attributes:
        reach: int or `None`. The attention's reach in tokens (`None`: the
            model has no attention window, as an LSTM).
        distances: list of int. Bytes of text between the pass key and the
            question.
        passkey_exact: list of float. Per distance, the share of trials
            whose 5 digits are all the greedy choice.
        passkey_digits: list of float. Per distance, per-digit accuracy.
        passkey_bits: list of float. Per distance, bits per digit.
        trials: int. Trials per distance (spread over `depths`).
        depths: list of int. Bytes of text before the pass key.
        gaps: list of int. MQAR gaps (tokens between pairs and queries).
        recall: list of float. Per gap, MQAR answer accuracy.
        slot_cosine: list of float. Per block with slots, the mean pairwise
            cosine of its slots after the longest passage (empty without
            slots).
    """

    reach: object
    distances: list
    passkey_exact: list
    passkey_digits: list
    passkey_bits: list
    trials: int
    depths: list
    gaps: list
    recall: list
    slot_cosine: list

    def summary(self):
        """The result as lines of text."""
        reach = "none" if self.reach is None else f"{self.reach:,} tokens"
        lines = [f"attention reach: {reach}",
                 f"pass key in held-out text, {self.trials} trials per "
                 f"distance, key after {', '.join(map(str, self.depths))} bytes",
                 f"{'distance':>10s}{'exact':>8s}{'digits':>8s}{'bits':>7s}"]
        for distance, exact, digits, bits in zip(
                self.distances, self.passkey_exact, self.passkey_digits,
                self.passkey_bits):
            lines.append(f"{distance:10,d}{exact:8.3f}{digits:8.3f}{bits:7.2f}"
                         + self._beyond(distance))
        if self.gaps:
            lines.append(f"{'MQAR gap':>10s}{'recall':>8s}")
            for gap, recall in zip(self.gaps, self.recall):
                lines.append(f"{gap:10,d}{recall:8.3f}" + self._beyond(gap))
        if self.slot_cosine:
            lines.append("slots' mean pairwise cosine per block: " + ", ".join(
                f"{cosine:.3f}" for cosine in self.slot_cosine))
        return lines

    def _beyond(self, distance):
        if self.reach is not None and distance >= self.reach:
            return "  (beyond the attention)"
        return ""

    def plot(self, path):
        """Writes the scores by distance as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot

        figure, axis = pyplot.subplots(figsize=(7, 4))
        axis.plot(self.distances, self.passkey_digits, "o-",
                  label="pass key, per digit")
        axis.plot(self.distances, self.passkey_exact, "s-",
                  label="pass key, exact")
        if self.gaps:
            axis.plot(self.gaps, self.recall, "^-", label="MQAR recall")
        axis.axhline(0.1, color="gray", linestyle=":", label="chance")
        if self.reach is not None:
            axis.axvline(self.reach, color="black", linestyle="--",
                         label="attention reach")
        axis.set_xscale("log", base=2)
        axis.set_ylim(0, 1.02)
        axis.set_xlabel("distance (tokens)")
        axis.set_ylabel("accuracy")
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        pyplot.close(figure)


def long_range(
    model,
    data_source=None,
    split="test",
    distances=(64, 256, 1024, 4096, 16384),
    trials=100,
    depths=(0, 256, 1024),
    gaps=(),
    num_pairs=4,
    seed=0,
    chunk_length=512,
    data_dir=None,
):
    """Measures what `model` recalls from further back than its attention.

    Args:
        model: a zoo byte-level language model (`get_initial_state`,
            `call(..., initial_state, return_state)`).
        data_source: its corpus (tfds name, files; `None`: the default one):
            the text around the pass key is held-out text of it.
        split: str. The held-out split.
        distances: ints. Bytes of text between the key and the question.
        trials: int. Pass keys per distance, spread over `depths`.
        depths: ints. Bytes of text before the key.
        gaps: ints. MQAR gaps to score (empty: none).
        num_pairs: int. MQAR pairs (and queries).
        seed: int. Seed of the keys, the places in the text and the pairs.
        chunk_length: int. Tokens read per call (the scores do not depend
            on it, only the speed and memory).
        data_dir: str or `None`. The tensorflow-datasets folder.

    Returns:
        A `LongRangeResult`.

    Example:

    ```python
    import memzoo.long_range

    model = memzoo.BigLanguageModel.from_preset("biglm_tiny")
    result = memzoo.long_range.long_range(model, distances=(64, 256),
                                          trials=6, gaps=(64,))
    print("\\n".join(result.summary()))
    ```
    """
    _check_byte_model(model)
    distances = [check_integer("distances", d, minimum=0) for d in distances]
    trials = check_integer("trials", trials)
    depths = [check_integer("depths", d, minimum=0) for d in depths]
    if not depths:
        raise ValueError("Invalid value for argument `depths`. Expected at "
                         "least one. Received: depths=()")
    gaps = [check_integer("gaps", g, minimum=0) for g in gaps]
    chunk_length = check_integer("chunk_length", chunk_length)
    rng = np.random.default_rng(seed)
    longest = max(distances, default=0) + max(depths)
    text = held_out_ids(model, data_source, split, None, data_dir)
    text = text[(text >= data.ByteTokenizer.num_special_ids)]
    if len(text) < longest + 1:
        raise ValueError(
            "Invalid value for argument `distances`. Expected the held-out "
            f"text ({len(text):,} bytes) to be longer than the longest "
            f"distance plus depth. Received: {longest:,}"
        )
    exact, digits, bits = [], [], []
    final_state = None
    for distance in distances:
        correct, losses = [], []
        for index, depth in enumerate(depths):
            rows = trials // len(depths) + (index < trials % len(depths))
            if not rows:
                continue
            ids, answer = _passkey_rows(rng, text, depth, distance, rows)
            hits, loss, final_state = _score_answers(
                model, ids, answer, chunk_length
            )
            correct.append(hits)
            losses.append(loss)
        correct, losses = np.concatenate(correct), np.concatenate(losses)
        exact.append(float(correct.all(axis=1).mean()))
        digits.append(float(correct.mean()))
        bits.append(float(losses.mean() / math.log(2.0)))
    recall = []
    for gap in gaps:
        inputs, targets, weights = next(iter(tasks.multi_query_associative_recall(
            trials, num_pairs=num_pairs, gap=gap, seed=seed, num_batches=1)))
        columns = np.flatnonzero(np.asarray(weights)[0])
        hits, _, _ = _score_answers(
            model, np.asarray(inputs), np.asarray(targets)[:, columns],
            chunk_length, columns,
        )
        recall.append(float(hits.mean()))
    return LongRangeResult(
        reach=attention_reach(model),
        distances=distances,
        passkey_exact=exact,
        passkey_digits=digits,
        passkey_bits=bits,
        trials=trials,
        depths=depths,
        gaps=gaps,
        recall=recall,
        slot_cosine=slot_cosine(final_state) if final_state else [],
    )


def attention_reach(model):
    """How far back a position sees through attention alone: `num_layers *
    (working_memory - 1) + 1` tokens, or `None` for a model without it."""
    window = getattr(model, "working_memory", None)
    if window is None:
        return None
    return model.num_layers * (window - 1) + 1


def slot_cosine(state):
    """Per block with slots in `state`, the mean pairwise cosine of its
    slots (averaged over the rows)."""
    cosines = []
    index = 0
    while f"block_{index}_keys" in state:
        slots = state.get(f"block_{index}_slots")
        index += 1
        if slots is None or slots.shape[1] < 2:
            continue
        slots = np.asarray(slots, np.float64)
        unit = slots / np.maximum(np.linalg.norm(slots, axis=-1, keepdims=True),
                                  1e-12)
        similarity = np.einsum("bmd,bnd->bmn", unit, unit)
        count = slots.shape[1]
        off_diagonal = similarity.sum(axis=(1, 2)) - np.trace(
            similarity, axis1=1, axis2=2)
        cosines.append(float((off_diagonal / (count * (count - 1))).mean()))
    return cosines


def _check_byte_model(model):
    tokenizer = getattr(model, "tokenizer", None)
    vocab_size = getattr(model, "vocab_size", 0)
    if tokenizer not in (None, "byte") or vocab_size < tasks.VOCABULARY_SIZE:
        raise ValueError(
            "Invalid value for argument `model`. Expected a byte-level "
            f"language model (tokenizer 'byte', vocab_size >= "
            f"{tasks.VOCABULARY_SIZE}). Received: tokenizer={tokenizer!r}, "
            f"vocab_size={vocab_size}"
        )


def _encode(text):
    return np.asarray(data.ByteTokenizer().encode(text), np.int32)


def _passkey_rows(rng, text, depth, distance, rows):
    """`rows` streams of held-out text with a pass key `depth` bytes in and
    the question `distance` bytes after it; the 5 answer digits' ids."""
    question = _encode(PASSKEY_QUESTION)
    streams, answers = [], []
    for _ in range(rows):
        key = "".join(str(d) for d in rng.integers(0, 10, 5))
        start = int(rng.integers(0, len(text) - depth - distance))
        around = text[start:start + depth + distance]
        streams.append(np.concatenate([
            around[:depth], _encode(PASSKEY_INTRO.format(key=key)),
            around[depth:], question, _encode(key)[:-1],
        ]))
        answers.append(_encode(key))
    return np.stack(streams), np.stack(answers)


def _score_answers(model, inputs, answers, chunk_length, columns=None):
    """Reads `inputs` as streams; whether the argmax at each answer position
    is the answer, the answer's loss in nats, and the state at the end.

    `columns`: the positions that predict the answers (default: the last
    `answers.shape[1]`).
    """
    length = inputs.shape[1]
    if columns is None:
        columns = np.arange(length - answers.shape[1], length)
    read = _read_function(model)
    state = model.get_initial_state(len(inputs))
    logits = []
    for start in range(0, length, chunk_length):
        chunk = inputs[:, start:start + chunk_length]
        wanted = columns[(columns >= start) & (columns < start + chunk.shape[1])]
        chunk_logits, state = read(tf.constant(chunk), state)
        if len(wanted):
            logits.append(np.asarray(chunk_logits)[:, wanted - start])
    logits = np.concatenate(logits, axis=1).astype(np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    losses = -np.take_along_axis(log_probabilities, answers[..., None], -1)[..., 0]
    return logits.argmax(-1) == answers, losses, state


def _read_function(model):
    """A traced `(inputs, state) -> (logits, state)` of `model`."""
    function = model.__dict__.get("_long_range_read")
    if function is None:
        @tf.function(reduce_retracing=True)
        def function(inputs, state):
            logits, state = model(inputs, initial_state=state,
                                  return_state=True, training=False)
            return tf.cast(logits, tf.float32), state

        model.__dict__["_long_range_read"] = function
    return function
