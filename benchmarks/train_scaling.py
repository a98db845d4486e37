"""Training tokens/s against context length: BigLanguageModel vs Keras peers.

Every model sees 8,192 tokens a batch, so a longer context means fewer rows.
A sliding window that is a mask on a full T x T score matrix (keras-hub's
Mistral, Keras's `MultiHeadAttention(sliding_window=...)`) slows down as T
grows; memzoo's blocked window should not. The anchors are measured in the
same run, on the same machine, and the script prints ratios, since absolute
speeds on a shared machine are noise. So is the float32 matmul ceiling, which
each model's achieved GFLOP/s is a fraction of (`common.py` says what counts).

    python benchmarks/train_scaling.py                      # all, ~15 min on 2 cores
    python benchmarks/train_scaling.py --contexts 512 4096 --steps 3

Needs the `bench` extra (keras-hub).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import memzoo  # noqa: E402
from common import gpt2  # noqa: E402
from common import matmul_ceiling  # noqa: E402
from common import parameters_per_token  # noqa: E402
from common import sliding_window_transformer  # noqa: E402
from common import training_flops_per_token  # noqa: E402
from common import training_step_seconds  # noqa: E402
from common import window_attention_keys  # noqa: E402
from common import with_lm_head  # noqa: E402

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


def keras_hub_gpt2(context, _):
    return gpt2(VOCAB_SIZE, WIDTH, LAYERS, HEADS, context)


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
        VOCAB_SIZE,
    )


def keras_sliding_window(context, _):
    return sliding_window_transformer(VOCAB_SIZE, WIDTH, LAYERS, HEADS,
                                      WINDOW, context)


def blocked_window_keys(context):
    return window_attention_keys(context, WINDOW, SLOTS)


def whole_matrix_keys(context):
    return context


BIG = "memzoo BigLM (lstm_layers=0)"
BIG_LSTM = "memzoo BigLM (lstm_layers=1)"
MISTRAL = f"keras-hub Mistral (sliding_window={WINDOW})"
SLIDING_MHA = f"Keras MHA (sliding_window={WINDOW})"
# name: (build, its argument, the keys a token is scored against).
MODELS = {
    BIG: (big_language_model, 0, blocked_window_keys),
    BIG_LSTM: (big_language_model, 1, blocked_window_keys),
    "keras-hub GPT2 (full attention)": (
        keras_hub_gpt2, None, whole_matrix_keys),
    MISTRAL: (mistral, None, whole_matrix_keys),
    SLIDING_MHA: (keras_sliding_window, None, whole_matrix_keys),
}


def measure(name, context, steps, jit_compile):
    """`(tokens/s, training FLOPs a token)` of a model at a context."""
    build, argument, attended_keys = MODELS[name]
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
    _, seconds = training_step_seconds(model, (ids[:, :-1], ids[:, 1:]), steps)
    flops = training_flops_per_token(
        parameters_per_token(model), LAYERS, attended_keys(context), WIDTH
    )
    return TOKENS_PER_BATCH / seconds, flops


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

    ceiling = matmul_ceiling()
    print(f"ceiling: {ceiling:.1f} GFLOP/s (float32 tf.matmul)", flush=True)
    speeds, gflops = {}, {}
    for name in args.models:
        for context in args.contexts:
            speed, flops = measure(name, context, args.steps, args.jit_compile)
            speeds[name, context] = speed
            gflops[name, context] = speed * flops / 1e9
            print(f"{name:42s} context {context:5d}: {speed:9,.0f} tokens/s "
                  f"{gflops[name, context]:6.1f} GFLOP/s "
                  f"({gflops[name, context] / ceiling:.0%} of the ceiling)",
                  flush=True)
            keras.backend.clear_session()

    header = f"{'model':42s}" + "".join(f"{c:>14d}" for c in args.contexts)
    print("\ntokens/s (8,192 tokens a batch, "
          f"jit_compile={args.jit_compile})")
    print(header)
    for name in args.models:
        print(f"{name:42s}" + "".join(
            f"{speeds[name, c]:14,.0f}" for c in args.contexts))
    print(f"\nGFLOP/s achieved, and their share of the {ceiling:.1f} "
          "GFLOP/s ceiling")
    print(header)
    for name in args.models:
        print(f"{name:42s}" + "".join(
            f"{gflops[name, c]:9.1f} {gflops[name, c] / ceiling:4.0%}"
            for c in args.contexts))

    longest, shortest = max(args.contexts), min(args.contexts)
    print("\nratios")
    if longest != shortest:
        for name in args.models:
            target = " (target >= 0.9)" if name == BIG else ""
            print(f"  {name} at {longest} / at {shortest}: "
                  f"{speeds[name, longest] / speeds[name, shortest]:.2f}"
                  f"{target}")
    for peer, target in ((SLIDING_MHA, 3), (MISTRAL, 2)):
        if (BIG, 4096) in speeds and (peer, 4096) in speeds:
            print(f"  {BIG} / {peer} at 4096: "
                  f"{speeds[BIG, 4096] / speeds[peer, 4096]:.2f} "
                  f"(target >= {target})")
    if BIG in args.models and BIG_LSTM in args.models:
        print(f"  what the token LSTM costs: {BIG_LSTM} / {BIG}")
        for context in args.contexts:
            print(f"    at {context:5d}: "
                  f"{speeds[BIG_LSTM, context] / speeds[BIG, context]:.2f}")


if __name__ == "__main__":
    main()
