"""Training tokens/s of every trainable preset, XLA on against XLA off.

Each preset trains on one batch of its own data, made as `memzoo train`
makes it (the preset's data, else the default corpus, at the preset's
sequence length; 32 examples), and is compiled as `memzoo train` compiles
it; with XLA off, op determinism is on, as `memzoo train --no-jit-compile`
sets it. XLA on and off are measured one after the other in the same run,
and their ratio is what counts: the tokens (the input's token ids, a
series' time steps) differ from preset to preset. biglm_small is also
measured without its memory slots (M=0), and its achieved GFLOP/s are set
against the float32 matmul ceiling of the same run (`common.py`).

    python benchmarks/train_speed.py                          # ~5 min on 2 cores
    python benchmarks/train_speed.py --presets biglm_small --steps 1
"""

import argparse
import os
import tempfile
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
# Private, as Keras imports it too: TensorFlow exports only the enabling half.
from tensorflow.python.framework.config import disable_op_determinism  # noqa: E402

import memzoo  # noqa: E402
from common import matmul_ceiling  # noqa: E402
from common import parameters_per_token  # noqa: E402
from common import training_flops_per_token  # noqa: E402
from common import training_step_seconds  # noqa: E402
from common import window_attention_keys  # noqa: E402
from memzoo.models.presets import get_preset  # noqa: E402
from memzoo.models.presets import list_presets  # noqa: E402
from memzoo.training.building import build_model  # noqa: E402
from memzoo.training.building import trainable_class  # noqa: E402
from memzoo.training.config import TrainingConfig  # noqa: E402
from memzoo.training.optimization import compile_for_training  # noqa: E402

SLOTS_PRESET = "biglm_small"
NO_SLOTS = {"long_short_term_memory": 0}
SLOTS_TARGET = 0.8
CEILING_TARGET = 0.25
# On/off ratios closer to 1 than this are called even: noise on this machine.
TIE = 0.05


class Measurement(typing.NamedTuple):
    tokens_per_second: float
    warmup_seconds: float
    jit_compile: bool  # What Keras ran, which may refuse XLA.
    flops_per_token: float = None  # BigLanguageModel only.


def trainable_presets():
    names = []
    for name in list_presets():
        try:
            trainable_class(name)
        except ValueError:
            continue
        names.append(name)
    return names


def training_batch(preset, batch_size, sequence_length, data_dir):
    """`(TrainingData, one batch of its training stream)`, read as `memzoo
    train` reads it."""
    config = TrainingConfig(preset=preset, batch_size=batch_size,
                            sequence_length=sequence_length,
                            validation_batches=1)
    keras.utils.set_random_seed(config.seed)
    data = trainable_class(preset).training_data(
        config.model_config(), config.data_source, config.batch_size,
        config.sequence_length, config.seed, config.validation_batches,
        data_dir,
    )
    return data, next(iter(data.train))


def token_count(inputs):
    """The token ids of `inputs` (each integer tensor), or batch x time
    steps of a series."""
    return sum(
        int(tf.size(tensor)) if tensor.dtype.is_integer
        else int(tensor.shape[0]) * int(tensor.shape[1])
        for tensor in tf.nest.flatten(inputs)
    )


def flops_per_token(model, inputs):
    """`common.training_flops_per_token` of a BigLanguageModel, else `None`."""
    if not isinstance(model, memzoo.BigLanguageModel):
        return None
    return training_flops_per_token(
        parameters_per_token(model), model.num_layers,
        window_attention_keys(inputs.shape[1], model.working_memory,
                              model.long_short_term_memory),
        model.hidden_dim,
    )


def measure(preset, overrides, data, batch, jit_compile, steps, min_seconds):
    """A `Measurement` of the preset's model with `overrides`, trained on
    `batch` as `memzoo train` trains it."""
    keras.utils.set_random_seed(0)
    if not jit_compile:
        tf.config.experimental.enable_op_determinism()
    try:
        model = build_model(preset, {**overrides, **data.config})
        compile_for_training(model, learning_rate=1e-3, steps=1000,
                             warmup_steps=10, jit_compile=jit_compile,
                             answer_only=data.answer_only)
        warmup, seconds = training_step_seconds(
            model, batch, steps, warmup_steps=2, min_seconds=min_seconds
        )
        return Measurement(
            token_count(batch[0]) / seconds, warmup, model.jit_compile,
            flops_per_token(model, batch[0]),
        )
    finally:
        disable_op_determinism()
        keras.backend.clear_session()


def describe(result, jit_compile):
    if isinstance(result, Exception):
        return f"failed: {type(result).__name__}: {str(result).splitlines()[0]}"
    refused = (" (Keras refused XLA)" if jit_compile and not result.jit_compile
               else "")
    return (f"{result.tokens_per_second:9,.0f} tokens/s{refused}, "
            f"{result.warmup_seconds:5.1f} s to compile and warm up")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", choices=trainable_presets(),
                        default=trainable_presets())
    parser.add_argument("--steps", type=int, default=3,
                        help="timed steps, after two warm-up steps")
    parser.add_argument("--min-seconds", type=float, default=2.0,
                        help="time more steps until this long (tiny presets "
                             "take milliseconds a step)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="default: the preset's, as `memzoo train`")
    parser.add_argument("--no-xla-off", dest="xla_off", action="store_false",
                        help="measure with XLA on only")
    parser.add_argument("--data-dir", default=None,
                        help="tensorflow-datasets folder (default: a new "
                             "temporary one)")
    args = parser.parse_args()

    ceiling = matmul_ceiling()
    print(f"ceiling: {ceiling:.1f} GFLOP/s (float32 tf.matmul)", flush=True)
    rows = [(name, name, {}) for name in args.presets]
    if SLOTS_PRESET in args.presets:
        rows.insert(args.presets.index(SLOTS_PRESET) + 1,
                    (f"{SLOTS_PRESET} M=0", SLOTS_PRESET, NO_SLOTS))
    modes = (True, False) if args.xla_off else (True,)
    results = {}
    with tempfile.TemporaryDirectory() as temporary:
        for label, preset, overrides in rows:
            data, batch = training_batch(preset, args.batch_size,
                                         args.sequence_length,
                                         args.data_dir or temporary)
            for jit_compile in modes:
                try:
                    result = measure(preset, overrides, data, batch,
                                     jit_compile, args.steps,
                                     args.min_seconds)
                except Exception as error:  # A preset XLA cannot compile.
                    result = error
                results[label, jit_compile] = result
                mode = "XLA on " if jit_compile else "XLA off"
                print(f"{label:24s} {mode}: {describe(result, jit_compile)}",
                      flush=True)

    def measured(label, jit_compile):
        result = results.get((label, jit_compile))
        return None if isinstance(result, Exception) else result

    print(f"\ntraining tokens/s, batch {args.batch_size}, at least "
          f"{args.steps} steps and {args.min_seconds:g} s")
    print(f"{'preset':24s}{'XLA on':>12s}{'XLA off':>12s}{'on/off':>9s}"
          "  faster")
    for label, _, _ in rows:
        on, off = measured(label, True), measured(label, False)
        cells = [f"{r.tokens_per_second:12,.0f}" if r else f"{'-':>12s}"
                 for r in (on, off)]
        if on and off:
            ratio = on.tokens_per_second / off.tokens_per_second
            faster = ("XLA on" if ratio > 1 + TIE else "XLA off"
                      if ratio < 1 / (1 + TIE) else "even")
            cells.append(f"{ratio:9.2f}  {faster}")
        if on and not on.jit_compile:
            cells.append("  (Keras refused XLA)")
        print(f"{label:24s}" + "".join(cells))

    slots = get_preset(SLOTS_PRESET)["config"]["long_short_term_memory"]
    print("\nratios")
    for jit_compile in modes:
        with_slots = measured(SLOTS_PRESET, jit_compile)
        without = measured(f"{SLOTS_PRESET} M=0", jit_compile)
        if with_slots and without:
            print(f"  {SLOTS_PRESET} slots (M={slots}) / M=0, XLA "
                  f"{'on' if jit_compile else 'off'}: "
                  f"{with_slots.tokens_per_second / without.tokens_per_second:.2f}"
                  f" (target >= {SLOTS_TARGET})")
    for (label, jit_compile), result in results.items():
        if not isinstance(result, Exception) and result.flops_per_token:
            gflops = result.tokens_per_second * result.flops_per_token / 1e9
            target = (f" (target >= {CEILING_TARGET:.0%})"
                      if label == SLOTS_PRESET and jit_compile else "")
            print(f"  {label}, XLA {'on' if jit_compile else 'off'}: "
                  f"{gflops:.1f} GFLOP/s, {gflops / ceiling:.0%} of the "
                  f"{ceiling:.1f} GFLOP/s ceiling{target}")


if __name__ == "__main__":
    main()
