"""Which slots recall past the attention: MQAR at a gap, at equal time.

memzoo's `BigLanguageModel` at about `biglm_tiny`'s size (width 64, 2
blocks, W 16: the attention reaches 31 tokens, no token LSTM) with the
associative slots (`slot_memory="associative"`: addressed by key, the
delta rule, forget gates spread from 2 to 1,024 segments), with the gated
slots of before (`"gated"`), with no slots (M = 0), and an
`LSTMLanguageModel` of a similar size, each trained on multi-query
associative recall (`memzoo.data.tasks.multi_query_associative_recall`)
with a gap of `--gap` tokens between the pairs and the queries, for the same
wall-clock time (counted from the end of the first batch, which compiles).
Scored on 512 fresh examples per gap: the trained gap, and longer ones (the
same model read at gaps it never saw). Also: training tokens/s, and the
mean pairwise cosine of each block's slots at the end of the examples.

    python benchmarks/recall_study.py                        # ~25 min on 2 cores
    python benchmarks/recall_study.py --seconds 20 --runs associative M0

Prints a Markdown table and writes it, with the rows as JSON, to `--output`.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import memzoo  # noqa: E402
from memory_study import TimeLimit  # noqa: E402
from memzoo.data import tasks  # noqa: E402
from memzoo.long_range import slot_cosine  # noqa: E402

RUNS = ("associative", "gated", "M0", "lstm")


def make_model(run, args):
    if run == "lstm":
        return memzoo.LSTMLanguageModel(
            vocab_size=tasks.VOCABULARY_SIZE, embedding_dim=64,
            hidden_dim=args.lstm_units, tokenizer="byte")
    return memzoo.BigLanguageModel(
        vocab_size=tasks.VOCABULARY_SIZE, embedding_dim=64, hidden_dim=64,
        working_memory=args.working_memory,
        long_short_term_memory=0 if run == "M0" else args.slots,
        num_layers=2, num_heads=2, segment_length=args.segment_length,
        lstm_layers=0, tokenizer="byte",
        slot_memory="gated" if run == "gated" else "associative")


def recall_batches(args, gap, seed, num_batches=None, batch_size=32):
    return tasks.multi_query_associative_recall(
        batch_size, num_pairs=args.pairs, gap=gap, seed=seed,
        num_batches=num_batches)


def study(run, args):
    keras.utils.set_random_seed(args.seed)
    model = make_model(run, args)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate,
                                                  global_clipnorm=1.0),
                  weighted_metrics=["sparse_categorical_accuracy"],
                  jit_compile=True)
    limit = TimeLimit(args.seconds)
    model.fit(recall_batches(args, args.gap, args.seed),
              steps_per_epoch=100_000, epochs=1, verbose=0, callbacks=[limit])
    tokens = (limit.steps - 1) * 32 * (2 * 2 * args.pairs + args.gap)
    row = {"run": run, "params": model.count_params(), "steps": limit.steps,
           "tokens_per_second": tokens / max(limit.training_seconds, 1e-9),
           "recall": {}}
    for gap in args.eval_gaps:
        examples = recall_batches(args, gap, 10_000 + args.seed,
                                  num_batches=8, batch_size=64)
        row["recall"][gap] = model.evaluate(examples, verbose=0, return_dict=True)[
            "sparse_categorical_accuracy"]
    if run in ("associative", "gated"):
        inputs = next(iter(recall_batches(args, max(args.eval_gaps), 1,
                                          num_batches=1, batch_size=8)))[0]
        _, state = model(inputs, initial_state=model.get_initial_state(8),
                         return_state=True)
        row["slot_cosine"] = slot_cosine(state)
    return row


def markdown(rows, args):
    reach = 2 * (args.working_memory - 1) + 1
    gaps = " | ".join(f"gap {g}" for g in args.eval_gaps)
    lines = [f"MQAR, {args.pairs} pairs, trained at gap {args.gap} "
             f"(attention reach {reach}), {args.seconds:g} s each, "
             f"Adam {args.learning_rate:g}, seed {args.seed}; chance 0.100",
             "",
             f"| run | params | steps | tokens/s | {gaps} | slots' cosine |",
             "|---|---:|---:|---:|" + "---:|" * len(args.eval_gaps) + "---|"]
    for row in rows:
        recall = " | ".join(f"{row['recall'][g]:.3f}" for g in args.eval_gaps)
        cosine = ", ".join(f"{c:.2f}" for c in row.get("slot_cosine", [])) or "-"
        lines.append(f"| {row['run']} | {row['params']:,} | {row['steps']:,} | "
                     f"{row['tokens_per_second']:,.0f} | {recall} | {cosine} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--gap", type=int, default=128)
    parser.add_argument("--eval-gaps", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--working-memory", type=int, default=16)
    parser.add_argument("--segment-length", type=int, default=16)
    parser.add_argument("--lstm-units", type=int, default=192)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/recall_study")
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        began = time.time()
        rows.append(study(run, args))
        print(f"{run}: {rows[-1]['recall']} ({time.time() - began:.0f} s)",
              flush=True)
    lines = markdown(rows, args)
    print("\n".join(lines))
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "results.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    with open(os.path.join(args.output, "results.json"), "w") as file:
        json.dump({"arguments": vars(args), "rows": rows}, file, indent=1)


if __name__ == "__main__":
    main()
