"""Per-token generation time against the length generated, with a carried state.

memzoo's decode loop feeds one token at a time with the state carried, so a
token should cost the same at position 2,048 as at position 256. keras-hub's
GPT2CausalLM, measured in the same run, caches keys and values of the whole
text, so its tokens get dearer as the text grows. The script prints ratios.

    python benchmarks/generate_scaling.py
    python benchmarks/generate_scaling.py --lengths 256 2048 --no-keras-hub

Needs the `bench` extra (keras-hub) unless --no-keras-hub.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import memzoo  # noqa: E402

VOCAB_SIZE = 4096
PROMPT_LENGTH = 16


def time_call(function, repeats):
    function()  # traces and compiles for this length
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def memzoo_seconds_per_token(model, length, jit_compile, repeats):
    prompt = np.random.default_rng(0).integers(
        0, VOCAB_SIZE, (1, PROMPT_LENGTH), dtype=np.int32
    )
    seconds = time_call(
        lambda: model.generate(prompt, max_new_tokens=length,
                               jit_compile=jit_compile),
        repeats,
    )
    return seconds / length


def gpt2_seconds_per_token(length, repeats):
    import keras_hub

    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCAB_SIZE, num_layers=2, num_heads=4, hidden_dim=128,
        intermediate_dim=512, max_sequence_length=PROMPT_LENGTH + length,
    )
    causal_lm = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
    total = PROMPT_LENGTH + length
    token_ids = np.zeros((1, total), np.int32)
    token_ids[0, :PROMPT_LENGTH] = np.random.default_rng(0).integers(
        0, VOCAB_SIZE, PROMPT_LENGTH
    )
    padding_mask = np.zeros((1, total), bool)
    padding_mask[0, :PROMPT_LENGTH] = True
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    seconds = time_call(
        lambda: causal_lm.generate(inputs, stop_token_ids=None), repeats
    )
    return seconds / length


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-keras-hub", dest="keras_hub", action="store_false")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    results = {}
    for lstm_layers in (0, 1):
        model = memzoo.BigLanguageModel(
            vocab_size=VOCAB_SIZE, embedding_dim=128, hidden_dim=128,
            working_memory=256, long_short_term_memory=16, num_layers=2,
            num_heads=4, lstm_layers=lstm_layers,
        )
        for jit_compile in (False, True):
            name = (f"memzoo BigLM (lstm_layers={lstm_layers}, "
                    f"jit_compile={jit_compile})")
            for length in args.lengths:
                results[name, length] = memzoo_seconds_per_token(
                    model, length, jit_compile, args.repeats
                )
                print(f"{name:50s} {length:5d} tokens: "
                      f"{1000 * results[name, length]:7.2f} ms/token", flush=True)
    if args.keras_hub:
        name = "keras-hub GPT2CausalLM.generate"
        for length in args.lengths:
            results[name, length] = gpt2_seconds_per_token(length, args.repeats)
            print(f"{name:50s} {length:5d} tokens: "
                  f"{1000 * results[name, length]:7.2f} ms/token", flush=True)

    shortest, longest = min(args.lengths), max(args.lengths)
    names = sorted({name for name, _ in results})
    print("\nms per generated token")
    print(f"{'model':50s}" + "".join(f"{n:>9d}" for n in args.lengths)
          + f"   {longest}/{shortest}")
    for name in names:
        print(f"{name:50s}"
              + "".join(f"{1000 * results[name, n]:9.2f}" for n in args.lengths)
              + f"   {results[name, longest] / results[name, shortest]:.2f}")
    print(f"\nratio {longest}/{shortest} per token: target <= 1.3 for memzoo")
    gpt2 = "keras-hub GPT2CausalLM.generate"
    if (gpt2, longest) in results:
        for name in names:
            if name.startswith("memzoo"):
                print(f"  {name} vs GPT2 at {longest}: "
                      f"{results[gpt2, longest] / results[name, longest]:.2f}x "
                      "faster per token")


if __name__ == "__main__":
    main()
