"""The optimizer, schedule and compile step of every memzoo fit."""

import keras

from memzoo.optimizers import ReplicaSumClippedAdam

MIXED_PRECISION = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def learning_rate_schedule(learning_rate, total_steps, warmup_steps):
    """Linear warm-up to `learning_rate`, then cosine decay to a tenth of it."""
    warmup_steps = min(warmup_steps, total_steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 100,
        decay_steps=max(total_steps - warmup_steps, 1),
        alpha=0.1,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )


def compile_for_training(model, learning_rate, steps, warmup_steps, jit_compile,
                         answer_only=False):
    """Compiles `model` as `memzoo train` trains: Adam on the warm-up and
    cosine schedule, gradients clipped to norm 1.

    `answer_only` (memory tasks): the loss, accuracy and bits per character
    are means over the tokens the batches' `sample_weight` marks, the answer.
    """
    optimizer = ReplicaSumClippedAdam(
        learning_rate_schedule(learning_rate, steps, warmup_steps),
        global_clipnorm=1.0,
    )
    model.compile(optimizer=optimizer, jit_compile=bool(jit_compile),
                  **model.compile_arguments(answer_only))
