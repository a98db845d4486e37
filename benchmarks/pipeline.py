"""Tokens/s the input pipeline delivers against tokens/s a model trains on.

Both are measured in the same run on the default corpus (`shakespeare_plays`,
or `python_stdlib`): the pipeline is `memzoo.data.language_model_dataset` with
shuffling on, read to exhaustion of `--pipeline-batches`; training is
`model.fit` of the preset (XLA) on batches already in memory, so it measures
the model alone. The ratio must be >= 20, so training is never input-bound.

    python benchmarks/pipeline.py                      # biglm_tiny, ~2 min
    python benchmarks/pipeline.py --preset biglm_small --steps 20
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import memzoo  # noqa: E402

TARGET_RATIO = 20


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="biglm_tiny")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--pipeline-batches", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=50,
                        help="timed training steps (after one warm-up epoch)")
    parser.add_argument("--data-dir", default=None)
    return parser.parse_args()


def pipeline_tokens_per_second(dataset, num_batches):
    started = time.perf_counter()
    tokens = 0
    for inputs, _ in dataset.take(num_batches):
        tokens += int(tf.size(inputs))
    return tokens / (time.perf_counter() - started)


def training_tokens_per_second(preset, batches, steps):
    model = memzoo.LanguageModel.from_preset(preset)
    model.compile(jit_compile=True)
    in_memory = batches.cache().repeat()
    # The first epoch compiles the step and fills the cache.
    model.fit(in_memory, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)
    started = time.perf_counter()
    model.fit(in_memory, steps_per_epoch=steps, epochs=1, verbose=0,
              shuffle=False)
    seconds = time.perf_counter() - started
    inputs, _ = next(iter(batches))
    return steps * int(tf.size(inputs)) / seconds


def main():
    args = parse_args()
    keras.utils.set_random_seed(0)
    corpus, _ = memzoo.data.default_corpus_files()
    dataset = memzoo.data.language_model_dataset(
        corpus, args.sequence_length, args.batch_size, seed=0,
        data_dir=args.data_dir,
    )
    next(iter(dataset))  # Builds the tfds dataset on first use, untimed.
    pipeline = pipeline_tokens_per_second(dataset, args.pipeline_batches)
    training = training_tokens_per_second(args.preset, dataset.take(5), args.steps)
    ratio = pipeline / training
    print(f"corpus {corpus}, batch {args.batch_size} x {args.sequence_length}")
    print(f"pipeline: {pipeline:,.0f} tokens/s")
    print(f"training {args.preset} (XLA): {training:,.0f} tokens/s")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"pipeline / training = {ratio:.1f} ({verdict} the target of "
          f">= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
