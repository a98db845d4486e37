"""Which of XLA and TensorFlow's own kernels trains a model faster here.

Neither wins everywhere on CPU. Measured on 2 cores with
`benchmarks/train_speed.py`, XLA trained `ntm_copy` 4.4x and
`translator_tiny` 1.8x faster, and `lstm_lm_small` (0.47x) and
`translator_en_de` (0.65x) slower: a rule of thumb would be wrong for some
family, so `jit_compile="auto"` measures, in `fit()` and `memzoo train`,
when the training is long enough to repay two compilations. Keras's own
`"auto"` turns XLA off on any CPU-only machine.
"""

import time

# Shorter trainings go without XLA rather than measure: two compilations
# (seconds to a minute) would not be repaid.
MIN_STEPS_TO_MEASURE = 300
TIMED_STEPS = 3


def measure_jit_compile(make_model, batch):
    """Times `train_on_batch` of `make_model(True)` (XLA) and
    `make_model(False)` on `batch`, after two untimed steps each.

    Returns `{"jit_compile": <the faster>, "how": "measured",
    "xla_steps_per_second": ..., "plain_steps_per_second": ...}`.
    """
    speeds = {}
    for jit_compile in (True, False):
        model = make_model(jit_compile)
        for _ in range(2):  # Traces and compiles.
            model.train_on_batch(*batch)
        started = time.perf_counter()
        for _ in range(TIMED_STEPS):
            model.train_on_batch(*batch)
        speeds[jit_compile] = TIMED_STEPS / (time.perf_counter() - started)
        del model
    return {
        "jit_compile": speeds[True] > speeds[False],
        "how": "measured",
        "xla_steps_per_second": speeds[True],
        "plain_steps_per_second": speeds[False],
    }
