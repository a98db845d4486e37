"""Decode speed: memzoo's `biglm_tiny` against keras-hub's GPT2CausalLM.

memzoo's decode loop feeds one token at a time with the state carried, so a
token should cost the same at position 4,096 as at position 256. keras-hub's
GPT2CausalLM of the same width (64), depth (2), heads (4) and vocabulary
(259 bytes), measured in the same run, caches the keys and values of the
whole text. Each model decodes with XLA and without (keras-hub's default on
CPU is without; memzoo's is with). Every shape is run once first (traced,
compiled), then timed. The script prints ratios against the anchors of the
same run, since absolute speeds on a shared machine are noise.

    python benchmarks/generate_scaling.py                  # ~5 min on 2 cores
    python benchmarks/generate_scaling.py --lengths 256 --batch-size 8

Needs the `bench` extra (keras-hub).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import memzoo  # noqa: E402

PRESET = "biglm_tiny"
PROMPT_LENGTH = 16
BATCHED_LENGTH = 256


def time_call(function, repeats):
    function()  # traces and compiles for this shape
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def prompts(batch_size, vocab_size):
    return np.random.default_rng(0).integers(
        0, vocab_size, (batch_size, PROMPT_LENGTH), dtype=np.int32
    )


def memzoo_decoder(jit_compile):
    keras.utils.set_random_seed(0)
    model = memzoo.BigLanguageModel.from_preset(PRESET)

    def seconds(batch_size, length, repeats):
        prompt = prompts(batch_size, model.vocab_size)
        return time_call(
            lambda: model.generate(prompt, max_new_tokens=length,
                                   jit_compile=jit_compile),
            repeats,
        )

    return seconds


def gpt2_decoder(jit_compile):
    import keras_hub

    config = memzoo.BigLanguageModel.from_preset(PRESET).get_config()
    models = {}

    def seconds(batch_size, length, repeats):
        total = PROMPT_LENGTH + length
        if total not in models:
            keras.utils.set_random_seed(0)
            backbone = keras_hub.models.GPT2Backbone(
                vocabulary_size=config["vocab_size"],
                num_layers=config["num_layers"],
                num_heads=config["num_heads"],
                hidden_dim=config["hidden_dim"],
                intermediate_dim=4 * config["hidden_dim"],
                max_sequence_length=total,
            )
            models[total] = keras_hub.models.GPT2CausalLM(
                backbone, preprocessor=None
            )
            models[total].compile(jit_compile=jit_compile)
        token_ids = np.zeros((batch_size, total), np.int32)
        token_ids[:, :PROMPT_LENGTH] = prompts(batch_size, config["vocab_size"])
        padding_mask = np.zeros((batch_size, total), bool)
        padding_mask[:, :PROMPT_LENGTH] = True
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        return time_call(
            lambda: models[total].generate(inputs, stop_token_ids=None),
            repeats,
        )

    return seconds


MODELS = {
    f"memzoo {PRESET} (XLA, its default)": (memzoo_decoder, True),
    f"memzoo {PRESET} (no XLA)": (memzoo_decoder, False),
    "keras-hub GPT2CausalLM (no XLA, its default)": (gpt2_decoder, False),
    "keras-hub GPT2CausalLM (XLA)": (gpt2_decoder, True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 4096],
                        help="new tokens at batch 1")
    parser.add_argument("--batch-size", type=int, default=32,
                        help=f"batch of the throughput row ({BATCHED_LENGTH} "
                             "new tokens)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    per_token, throughput = {}, {}
    for name, (make, jit_compile) in MODELS.items():
        decoder = make(jit_compile)
        for length in args.lengths:
            # One timed call of the longest: it alone takes seconds.
            repeats = args.repeats if length <= 1024 else 1
            per_token[name, length] = decoder(1, length, repeats) / length
            print(f"{name:46s} batch 1, {length:5d} tokens: "
                  f"{1000 * per_token[name, length]:7.3f} ms/token", flush=True)
        seconds = decoder(args.batch_size, BATCHED_LENGTH, args.repeats)
        throughput[name] = args.batch_size * BATCHED_LENGTH / seconds
        print(f"{name:46s} batch {args.batch_size}, {BATCHED_LENGTH} tokens: "
              f"{throughput[name]:9,.0f} tokens/s", flush=True)
        keras.backend.clear_session()

    shortest, longest = min(args.lengths), max(args.lengths)
    print(f"\nbatch 1: ms per new token; batch {args.batch_size}: tokens/s")
    print(f"{'model':46s}" + "".join(f"{n:>9d}" for n in args.lengths)
          + f"{longest}/{shortest}".rjust(11) + f"batch {args.batch_size}".rjust(12))
    for name in MODELS:
        print(f"{name:46s}"
              + "".join(f"{1000 * per_token[name, n]:9.3f}" for n in args.lengths)
              + f"{per_token[name, longest] / per_token[name, shortest]:11.2f}"
              + f"{throughput[name]:12,.0f}")

    ours, ours_plain, theirs, theirs_xla = MODELS
    print("\nratios")
    print(f"  memzoo per token / GPT2's at {shortest}, each as it comes: "
          f"{per_token[ours, shortest] / per_token[theirs, shortest]:.2f} "
          "(target <= 0.5)")
    print(f"  memzoo per token / GPT2's at {shortest}, both with XLA: "
          f"{per_token[ours, shortest] / per_token[theirs_xla, shortest]:.2f}")
    print(f"  memzoo per token / GPT2's at {shortest}, both without XLA: "
          f"{per_token[ours_plain, shortest] / per_token[theirs, shortest]:.2f}")
    for name in (ours, ours_plain):
        print(f"  {name} per token at {longest} / at {shortest}: "
              f"{per_token[name, longest] / per_token[name, shortest]:.2f} "
              "(target <= 1.3: flat)")
    print(f"  memzoo tokens/s / GPT2's at batch {args.batch_size}, each as it "
          f"comes: {throughput[ours] / throughput[theirs]:.2f}; both with XLA: "
          f"{throughput[ours] / throughput[theirs_xla]:.2f}")


if __name__ == "__main__":
    main()
