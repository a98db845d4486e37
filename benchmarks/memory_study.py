"""What working memory, memory slots and a token LSTM buy on real text.

memzoo's `BigLanguageModel` at the `biglm_tiny` size, for a grid of working
memory W (the attention window), long-short-term memory M (memory slots)
and token LSTM layers L, each trained on windows from a fresh state and
statefully (`language_model_streams`, the state carried from step to step),
against the peers a user would pick instead at a similar parameter count
(~250k): memzoo's `LSTMLanguageModel` (windows and stateful), keras-hub's
GPT2 with a Dense head, and a Transformer of Keras's
`MultiHeadAttention(sliding_window=128)`. Every run gets the same wall-clock
training time, counted from the end of its first batch (which traces and
compiles); a peer's learning rate is the best of a small sweep, each sweep
run at the full budget. The scores are held-out bits per character of the
start of the test split, read as windows from a fresh state and, for the
models that carry a state, as one stream.

    python benchmarks/memory_study.py                   # ~2 h on 2 cores
    python benchmarks/memory_study.py --seconds 3 --grid small \\
        --corpora shakespeare_plays --eval-tokens 4096 \\
        --peer-learning-rates 3e-3 --output /tmp/study_smoke

The rows go to `results.json` and `results.md` in `--output`; a run whose
row is there already (same corpus, model, learning rate and seconds) is
skipped, so a killed study continues where it stopped. Needs the `bench`
extra (keras-hub).
"""

import argparse
import dataclasses
import functools
import gc
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tqdm import tqdm  # noqa: E402

import memzoo  # noqa: E402
from common import gpt2  # noqa: E402
from common import sliding_window_transformer  # noqa: E402
from memzoo.probe import held_out_ids  # noqa: E402
from memzoo.probe import stream_losses  # noqa: E402

VOCAB_SIZE = 259
BATCH_SIZE = 32
GRIDS = {
    # (working_memory, long_short_term_memory, lstm_layers)
    "full": ((32, 128, 512), (0, 16), (0, 1)),
    "small": ((32, 128), (0, 16), (1,)),
}
# Peer sizes near the 250k parameters of memzoo's M16 L1 models (267k; the
# grid spans 127k-267k). At a sequence length of 256: LSTMLanguageModel
# 256k, GPT2 238k, the sliding-window Transformer 218k (its position table
# is one sequence long, GPT2's 512).
LSTM_SIZE = {"embedding_dim": 32, "hidden_dim": 128, "num_layers": 2}
PEER_WIDTH = 80
PEER_LAYERS = 2
PEER_HEADS = 4
GPT2_POSITIONS = 512
MHA_WINDOW = 128
# XLA per model family unless --jit-compile says otherwise: on 2 CPU cores
# XLA trains the LSTM language model slower (memzoo.models.xla_speed).
JIT_COMPILE = {"memzoo": True, "lstm": False, "gpt2": True, "mha": True}
# Steps a fit may take: the time limit ends it first.
MAX_STEPS = 10**9


@dataclasses.dataclass(frozen=True)
class Run:
    """A model of the study and how it trains.

    Attributes:
        name: str. Its name in the tables.
        family: str. A key of `JIT_COMPILE`.
        build: a function of no arguments making the model, uncompiled.
        stateful: bool. Whether it trains on `language_model_streams`.
        swept: bool. Whether its learning rate comes from the peers' sweep.
    """

    name: str
    family: str
    build: object
    stateful: bool
    swept: bool

    @property
    def carries_state(self):
        return self.family in ("memzoo", "lstm")


class TimeLimit(keras.callbacks.Callback):
    """Stops `fit` once `seconds` of training have passed since the end of
    its first batch, which traces and compiles and is timed apart.

    With `halfway`, calls `halfway(model)` once half of `seconds` have
    passed and keeps what it returns in `halfway_result`; the time it takes
    is not training time.

    Args:
        seconds: float. Training time after the first batch.
        halfway: a function of the model, or `None`.
    """

    def __init__(self, seconds, halfway=None):
        super().__init__()
        self.seconds = seconds
        self.halfway = halfway
        self.halfway_result = None
        self.halfway_steps = None
        self.steps = 0
        self.first_batch_seconds = None
        self.training_seconds = 0.0
        self._began = None
        self._clock_started = None
        self._paused = 0.0

    def on_train_begin(self, logs=None):
        self._began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.steps += 1
        if self._clock_started is None:
            self._clock_started = now
            self.first_batch_seconds = now - self._began
            return
        self.training_seconds = now - self._clock_started - self._paused
        if (self.halfway is not None and self.halfway_result is None
                and self.training_seconds >= self.seconds / 2):
            self.halfway_steps = self.steps
            self.halfway_result = self.halfway(self.model)
            self._paused += time.perf_counter() - now
        if self.training_seconds >= self.seconds:
            self.model.stop_training = True


def big_language_model(working_memory, long_short_term_memory, lstm_layers):
    return memzoo.BigLanguageModel(
        vocab_size=VOCAB_SIZE, embedding_dim=32, hidden_dim=64,
        working_memory=working_memory,
        long_short_term_memory=long_short_term_memory, num_layers=2,
        num_heads=4, lstm_layers=lstm_layers, tokenizer="byte",
    )


def study_runs(grid, sequence_length, skip_peers):
    """The runs of a corpus, in order: the memzoo grid, then the peers."""
    runs = []
    windows, slots, lstms = GRIDS[grid]
    for working_memory in windows:
        for long_short_term_memory in slots:
            for lstm_layers in lstms:
                build = functools.partial(
                    big_language_model, working_memory,
                    long_short_term_memory, lstm_layers)
                name = (f"memzoo W{working_memory} M{long_short_term_memory}"
                        f" L{lstm_layers}")
                runs += [
                    Run(f"{name} windowed", "memzoo", build, False, False),
                    Run(f"{name} stateful", "memzoo", build, True, False),
                ]
    if skip_peers:
        return runs
    lstm = functools.partial(memzoo.LSTMLanguageModel, vocab_size=VOCAB_SIZE,
                             tokenizer="byte", **LSTM_SIZE)
    return runs + [
        Run("LSTMLanguageModel windowed", "lstm", lstm, False, True),
        Run("LSTMLanguageModel stateful", "lstm", lstm, True, True),
        Run(f"GPT2 (context {GPT2_POSITIONS})", "gpt2", functools.partial(
            gpt2, VOCAB_SIZE, PEER_WIDTH, PEER_LAYERS, PEER_HEADS,
            sequence_length, GPT2_POSITIONS), False, True),
        Run(f"MHA sliding_window={MHA_WINDOW}", "mha", functools.partial(
            sliding_window_transformer, VOCAB_SIZE, PEER_WIDTH, PEER_LAYERS,
            PEER_HEADS, MHA_WINDOW, sequence_length), False, True),
    ]


def training_batches(corpus, stateful, args):
    """The `train` split as windows, or as streams with `stateful`."""
    arguments = {"split": "train", "shuffle": True, "seed": args.seed,
                 "data_dir": args.data_dir, "repeat": True}
    if stateful:
        return memzoo.data.language_model_streams(
            corpus, args.sequence_length, BATCH_SIZE,
            stream_length=args.stream_length, **arguments)
    return memzoo.data.language_model_dataset(
        corpus, args.sequence_length, BATCH_SIZE, **arguments)


def test_ids(corpus, args):
    """The first `--eval-tokens` tokens of the test split, and the one after,
    trimmed to a whole number of sequences."""
    # No model: `held_out_ids` then reads with the byte tokenizer, as every
    # model of the study does.
    ids = held_out_ids(None, corpus, "test", args.eval_tokens, args.data_dir)
    length = (len(ids) - 1) // args.sequence_length * args.sequence_length
    if not length:
        raise ValueError(
            "Invalid value for argument `--eval-tokens`. Expected at least "
            f"one sequence of {args.sequence_length} tokens of {corpus!r}'s "
            f"test split. Received: {len(ids) - 1} tokens")
    return ids[:length + 1]


def windowed_losses(model, ids, sequence_length, carries_state):
    """Nats of each next token of `ids`, read in windows of `sequence_length`
    tokens each from a fresh state."""
    if carries_state:
        return stream_losses(model, ids, sequence_length, sequence_length)
    inputs = ids[:-1].reshape(-1, sequence_length)
    targets = ids[1:].reshape(-1, sequence_length)
    losses = []
    for start in range(0, len(inputs), BATCH_SIZE):
        rows = slice(start, start + BATCH_SIZE)
        logits = model(inputs[rows], training=False)
        losses.append(tf.nn.sparse_softmax_cross_entropy_with_logits(
            targets[rows], tf.cast(logits, tf.float32)).numpy())
    return np.concatenate(losses).reshape(-1)


def bits(losses):
    return float(np.mean(losses)) / math.log(2.0)


def train_and_score(run, learning_rate, corpus, ids, args):
    """Trains `run` for `--seconds` and scores it on `ids`: its row."""
    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    model = run.build()
    jit_compile = args.jit_compile[run.family]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=None,
        jit_compile=jit_compile,
    )

    def windows_bpc(model):
        return bits(windowed_losses(model, ids, args.sequence_length,
                                    run.carries_state))

    limit = TimeLimit(args.seconds,
                      windows_bpc if args.check_stability else None)
    # The datasets shuffle themselves, seeded: every model sees the same
    # batches.
    model.fit(training_batches(corpus, run.stateful, args),
              steps_per_epoch=MAX_STEPS, epochs=1, verbose=0,
              callbacks=[limit], shuffle=False)
    scoring_started = time.perf_counter()
    windows = windows_bpc(model)
    stream = None
    if run.carries_state:
        stream = bits(stream_losses(model, ids, None, args.sequence_length))
    finished = time.perf_counter()
    row = {
        "corpus": corpus,
        "model": run.name,
        "parameters": model.count_params(),
        "learning_rate": learning_rate,
        "seconds": args.seconds,
        "steps": limit.steps,
        "tokens_per_second": ((limit.steps - 1) * BATCH_SIZE
                              * args.sequence_length
                              / max(limit.training_seconds, 1e-9)),
        "windowed_bpc": windows,
        "stream_bpc": stream,
        "gain": None if stream is None else windows - stream,
        "half_windowed_bpc": limit.halfway_result,
        "half_steps": limit.halfway_steps,
        "stateful": run.stateful,
        "jit_compile": jit_compile,
        "first_batch_seconds": limit.first_batch_seconds,
        "scoring_seconds": finished - scoring_started,
        "overhead_seconds": finished - started - args.seconds,
    }
    del model
    keras.backend.clear_session()
    gc.collect()
    return row


def best_bpc(row):
    """The better of a row's two scores (lower bits per character)."""
    return min(value for value in (row["windowed_bpc"], row["stream_bpc"])
               if value is not None)


def table_rows(rows, corpus, seconds):
    """A corpus's rows at `seconds`, the best learning rate of each model,
    sorted by `best_bpc`."""
    best = {}
    for row in rows:
        if row["corpus"] != corpus or row["seconds"] != seconds:
            continue
        if (row["model"] not in best
                or best_bpc(row) < best_bpc(best[row["model"]])):
            best[row["model"]] = row
    return sorted(best.values(), key=best_bpc)


def spearman(first, second):
    """Spearman's rank correlation of two equally long sequences, ties given
    their mean rank (`nan` if either is constant)."""
    first, second = _ranks(first), _ranks(second)
    first -= first.mean()
    second -= second.mean()
    norm = math.sqrt(float((first**2).sum() * (second**2).sum()))
    return float((first * second).sum()) / norm if norm else float("nan")


def _ranks(values):
    values = np.asarray(values, np.float64)
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    for value in np.unique(values):
        ranks[values == value] = ranks[values == value].mean()
    return ranks


COLUMNS = (
    # (heading, width, row -> text)
    ("model", 30, lambda row: row["model"]),
    ("params", 8, lambda row: f"{row['parameters']:,}"),
    ("lr", 7, lambda row: f"{row['learning_rate']:g}"),
    ("steps", 6, lambda row: f"{row['steps']:,}"),
    ("tokens/s", 8, lambda row: f"{row['tokens_per_second']:,.0f}"),
    ("first s", 7, lambda row: f"{row['first_batch_seconds']:.1f}"),
    ("windows", 7, lambda row: f"{row['windowed_bpc']:.3f}"),
    ("stream", 7, lambda row: _optional(row["stream_bpc"])),
    ("gain", 7, lambda row: _optional(row["gain"])),
    ("half", 7, lambda row: _optional(row.get("half_windowed_bpc"))),
)


def _optional(value):
    return "" if value is None else f"{value:.3f}"


def text_line(row=None):
    """A row of the printed table (`None`: the heading)."""
    cells = [(heading if row is None else cell(row), width)
             for heading, width, cell in COLUMNS]
    name, width = cells[0]
    return (f"{name:{width}s}" + "".join(
        f" {text:>{width}s}" for text, width in cells[1:])).rstrip()


def markdown_lines(rows):
    lines = ["| " + " | ".join(heading for heading, _, _ in COLUMNS) + " |",
             "|" + "---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(cell(row) for _, _, cell in COLUMNS) + " |"
              for row in rows]
    return lines


def corpus_summary(rows, check_stability, seconds):
    """Lines under a corpus's table: the best memzoo model and peer, and
    with `check_stability` the rank correlation of the half-time and
    full-time windowed scores."""
    lines = []
    for label, mine in (("best memzoo", True), ("best peer", False)):
        found = [row for row in rows if row["model"].startswith("memzoo")
                 == mine]
        if found:
            row = found[0]
            lines.append(
                f"{label}: {row['model']}, {best_bpc(row):.3f} bits per "
                f"character (learning rate {row['learning_rate']:g})")
    halves = [row for row in rows if row.get("half_windowed_bpc") is not None]
    if check_stability and len(halves) >= 2:
        correlation = spearman([row["half_windowed_bpc"] for row in halves],
                               [row["windowed_bpc"] for row in halves])
        lines.append(
            f"ranking by windowed bits per character at {seconds / 2:g} s "
            f"against {seconds:g} s: Spearman {correlation:.3f} over "
            f"{len(halves)} models")
    return lines


def save(rows, args):
    """Writes `results.json` and `results.md` to `--output` (replacing them
    whole, so a kill leaves the last complete ones)."""
    settings = {name: value for name, value in vars(args).items()
                if name != "output"}
    corpora = sorted({row["corpus"] for row in rows})
    markdown = [
        "# Held-out bits per character at equal training time", "",
        f"{len(rows)} runs. Settings of the last: `{json.dumps(settings)}`.",
        "`windows`: each window of the sequence length from a fresh state; "
        "`stream`: the test text as one stream, the state carried; `half`: "
        "windows at half the time (--check-stability). Each model at its "
        "best learning rate.",
    ]
    for corpus in corpora:
        for seconds in sorted({row["seconds"] for row in rows
                               if row["corpus"] == corpus}):
            shown = table_rows(rows, corpus, seconds)
            markdown += ["", f"## {corpus}, {seconds:g} s of training", ""]
            markdown += markdown_lines(shown)
            markdown += [""] + corpus_summary(shown, True, seconds)
    for name, text in (
            ("results.json",
             json.dumps({"settings": settings, "rows": rows}, indent=1)),
            ("results.md", "\n".join(markdown) + "\n")):
        path = os.path.join(args.output, name)
        with open(path + ".partial", "w") as file:
            file.write(text)
        os.replace(path + ".partial", path)


def load_rows(output):
    path = os.path.join(output, "results.json")
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return json.load(file)["rows"]


def stream_length(text):
    """`--stream-length`: tokens between resets; `0` or `none`: 0."""
    if text.lower() in ("0", "none"):
        return 0
    return int(text)


def jit_compile_choices(texts):
    """`--jit-compile family=on|off ...` over `JIT_COMPILE`."""
    choices = dict(JIT_COMPILE)
    for text in texts:
        family, _, value = text.partition("=")
        if family not in choices or value not in ("on", "off"):
            raise argparse.ArgumentTypeError(
                f"expected FAMILY=on or FAMILY=off, FAMILY one of "
                f"{', '.join(JIT_COMPILE)}; received {text!r}")
        choices[family] = value == "on"
    return choices


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+",
                        default=["shakespeare_plays", "python_stdlib"])
    parser.add_argument("--seconds", type=float, default=75.0,
                        help="training time of every run, after its first "
                        "batch")
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--stream-length", type=stream_length, default=None,
                        help="tokens between resets in stateful training, "
                        "a multiple of --sequence-length (default: memzoo "
                        "train's, 4 windows; 0 or none: whole documents)")
    parser.add_argument("--learning-rate", type=float, default=3e-3,
                        help="of the memzoo models")
    parser.add_argument("--peer-learning-rates", type=float, nargs="+",
                        default=[3e-3, 1e-2])
    parser.add_argument("--eval-tokens", type=int, default=65_536)
    parser.add_argument("--grid", choices=list(GRIDS), default="full")
    parser.add_argument("--models", nargs="+", default=None,
                        help="only the models whose name contains one of "
                        "these")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--check-stability", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="also score windows at half the time and "
                        "compare the rankings")
    parser.add_argument("--jit-compile", nargs="+", default=[],
                        metavar="FAMILY=on|off",
                        help="XLA per family, over the defaults "
                        f"{JIT_COMPILE}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/memory_study")
    parser.add_argument("--data-dir", default=None,
                        help="tensorflow-datasets folder (default: tfds "
                        "in --output)")
    args = parser.parse_args()
    try:
        args.jit_compile = jit_compile_choices(args.jit_compile)
    except argparse.ArgumentTypeError as error:
        parser.error(f"argument --jit-compile: {error}")
    try:
        args.stream_length = memzoo.training.check_stream_length(
            args.stream_length, args.sequence_length)
    except ValueError as error:
        parser.error(f"argument --stream-length: {error}")
    if not args.skip_peers and args.sequence_length > GPT2_POSITIONS:
        parser.error(
            f"argument --sequence-length: expected at most GPT2's "
            f"{GPT2_POSITIONS} positions (or --skip-peers); received "
            f"{args.sequence_length}")
    args.data_dir = args.data_dir or os.path.join(args.output, "tfds")
    os.makedirs(args.output, exist_ok=True)

    runs = [
        run for run in study_runs(args.grid, args.sequence_length,
                                  args.skip_peers)
        if args.models is None or any(part in run.name
                                      for part in args.models)
    ]
    rows = load_rows(args.output)
    done = {(row["corpus"], row["model"], row["learning_rate"],
             row["seconds"]) for row in rows}
    planned = [(corpus, run, learning_rate)
               for corpus in args.corpora for run in runs
               for learning_rate in (args.peer_learning_rates if run.swept
                                     else [args.learning_rate])]
    todo = [(corpus, run, learning_rate)
            for corpus, run, learning_rate in planned
            if (corpus, run.name, learning_rate, args.seconds) not in done]
    print(f"{len(planned)} runs of {args.seconds:g} s, {len(todo)} to do "
          f"({len(planned) - len(todo)} done in {args.output})", flush=True)
    print(text_line(), flush=True)
    ids = {}
    for corpus, run, learning_rate in tqdm(todo, desc="memory study",
                                           unit="run"):
        if corpus not in ids:
            ids[corpus] = test_ids(corpus, args)
        row = train_and_score(run, learning_rate, corpus, ids[corpus], args)
        rows.append(row)
        save(rows, args)
        tqdm.write(f"{text_line(row)}  {corpus}")
        sys.stdout.flush()

    for corpus in args.corpora:
        shown = table_rows(rows, corpus, args.seconds)
        if not shown:
            continue
        print(f"\n{corpus}: held-out bits per character after "
              f"{args.seconds:g} s of training, best learning rate of each "
              "model")
        print(text_line())
        for row in shown:
            print(text_line(row))
        for line in corpus_summary(shown, args.check_stability, args.seconds):
            print(line)
    finished = [row for row in rows if row["seconds"] == args.seconds]
    if finished:
        mean = {name: np.mean([row[name] for row in finished])
                for name in ("overhead_seconds", "first_batch_seconds",
                             "scoring_seconds")}
        print(f"\noverhead a run, beyond its {args.seconds:g} s: "
              f"{mean['overhead_seconds']:.1f} s on average (first batch "
              f"{mean['first_batch_seconds']:.1f} s, scoring "
              f"{mean['scoring_seconds']:.1f} s)")
    save(rows, args)


if __name__ == "__main__":
    main()
