"""Training tokens/s against context length: BigLanguageModel vs keras-hub peers.

Every model sees 8,192 tokens a batch, so a longer context means fewer rows.
A sliding window that is a mask on a full T x T score matrix (keras-hub's
Mistral) slows down as T grows; memzoo's blocked window should not. The
anchors are measured in the same run, on the same machine, and the script
prints ratios, since absolute speeds on a shared machine are noise.

    python benchmarks/train_scaling.py                      # all, ~15 min on 2 cores
    python benchmarks/train_scaling.py --contexts 512 4096 --steps 3

Needs the `bench` extra (keras-hub).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import memzoo  # noqa: E402

VOCAB_SIZE = 4096
WIDTH = 128
LAYERS = 2
HEADS = 4
WINDOW = 256
SLOTS = 16
TOKENS_PER_BATCH = 8192


def big_language_model(context, lstm_layers):
    return memzoo.BigLanguageModel(
        vocab_size=VOCAB_SIZE, embedding_dim=WIDTH, hidden_dim=WIDTH,
        working_memory=WINDOW, long_short_term_memory=SLOTS,
        num_layers=LAYERS, num_heads=HEADS, lstm_layers=lstm_layers,
    )


def with_lm_head(backbone, context):
    """keras-hub backbone + Dense head, fed token ids only (no padding)."""
    token_ids = keras.Input((context,), dtype="int32")
    hidden = backbone(
        {"token_ids": token_ids, "padding_mask": keras.ops.ones_like(token_ids)}
    )
    return keras.Model(token_ids, keras.layers.Dense(VOCAB_SIZE)(hidden))


def gpt2(context, _):
    import keras_hub

    return with_lm_head(
        keras_hub.models.GPT2Backbone(
            vocabulary_size=VOCAB_SIZE, num_layers=LAYERS, num_heads=HEADS,
            hidden_dim=WIDTH, intermediate_dim=4 * WIDTH,
            max_sequence_length=context,
        ),
        context,
    )


def mistral(context, _):
    import keras_hub

    return with_lm_head(
        keras_hub.models.MistralBackbone(
            vocabulary_size=VOCAB_SIZE, num_layers=LAYERS,
            num_query_heads=HEADS, num_key_value_heads=HEADS,
            hidden_dim=WIDTH, intermediate_dim=4 * WIDTH,
            sliding_window=WINDOW,
        ),
        context,
    )


MODELS = {
    "memzoo BigLM (lstm_layers=0)": (big_language_model, 0),
    "memzoo BigLM (lstm_layers=1)": (big_language_model, 1),
    "keras-hub GPT2 (full attention)": (gpt2, None),
    f"keras-hub Mistral (sliding_window={WINDOW})": (mistral, None),
}


def tokens_per_second(build, argument, context, steps, jit_compile):
    keras.utils.set_random_seed(0)
    batch_size = TOKENS_PER_BATCH // context
    model = build(context, argument)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB_SIZE, (batch_size, context + 1), dtype=np.int32)
    x, y = ids[:, :-1], ids[:, 1:]
    model.train_on_batch(x, y)  # compiles
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * TOKENS_PER_BATCH / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+",
                        default=[512, 2048, 4096, 8192])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        choices=list(MODELS))
    parser.add_argument("--no-jit-compile", dest="jit_compile",
                        action="store_false")
    args = parser.parse_args()

    results = {}
    for name in args.models:
        build, argument = MODELS[name]
        for context in args.contexts:
            speed = tokens_per_second(build, argument, context, args.steps,
                                      args.jit_compile)
            results[name, context] = speed
            print(f"{name:42s} context {context:5d}: {speed:9,.0f} tokens/s",
                  flush=True)
            keras.backend.clear_session()

    print("\ntokens/s (8,192 tokens a batch, "
          f"jit_compile={args.jit_compile})")
    print(f"{'model':42s}" + "".join(f"{c:>9d}" for c in args.contexts))
    for name in args.models:
        print(f"{name:42s}" + "".join(
            f"{results[name, c]:9,.0f}" for c in args.contexts))

    big = "memzoo BigLM (lstm_layers=0)"
    peer = f"keras-hub Mistral (sliding_window={WINDOW})"
    longest, shortest = max(args.contexts), min(args.contexts)
    print("\nratios")
    for name in args.models:
        if name.startswith("memzoo"):
            print(f"  {name} at {longest} / at {shortest}: "
                  f"{results[name, longest] / results[name, shortest]:.2f} "
                  "(target >= 0.8)")
    if (big, 4096) in results and (peer, 4096) in results:
        print(f"  {big} / {peer} at 4096: "
              f"{results[big, 4096] / results[peer, 4096]:.2f} (target >= 2)")


if __name__ == "__main__":
    main()
