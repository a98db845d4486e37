"""What `jit_compile="auto"` means for `memzoo train`: whichever of XLA and
TensorFlow's own kernels trains the run's model faster here, measured.

Neither wins everywhere on CPU. Measured on 2 cores with
`benchmarks/train_speed.py`, XLA trained `ntm_copy` 4.6x and
`translator_tiny` 1.9x faster, and `lstm_lm_small` (0.56x) and
`translator_en_de` (0.71x) slower: a rule of thumb would be wrong for some
family, so a run long enough to repay the measurement measures it. Keras's
own `"auto"` turns XLA off on any CPU-only machine.
"""

import json
import os
import time

import keras
import tensorflow as tf

from memzoo.training.run_folder import RUN_FILE
from memzoo.training.run_folder import read_json

# The file of a run's folder that records the choice, so that a resumed run
# keeps it: a choice made again could differ, and XLA's numbers differ from
# TensorFlow's in the last digits.
CHOICE_FILE = "jit_compile.json"
# Shorter runs train without XLA rather than measure: two compilations
# (seconds to a minute) would not be repaid.
MIN_STEPS_TO_MEASURE = 300
TIMED_STEPS = 3


def choose_jit_compile(config, strategy, output_dir, make_model, make_batch):
    """`{"jit_compile": bool, "how": str, ...}` for a run of `config`.

    Args:
        config: the run's `TrainingConfig`; its `jit_compile` is `True`,
            `False` or `"auto"`.
        strategy: the run's `tf.distribute.Strategy`.
        output_dir: the run's folder: a choice recorded there is kept.
        make_model: callable returning a fresh, compiled-ready model.
        make_batch: callable returning one training batch.

    With `"auto"`: XLA on a TPU (it runs nothing else); no XLA under
    another distribution strategy (Keras's own `"auto"`) or for runs
    shorter than `MIN_STEPS_TO_MEASURE`; else, on a CPU or a GPU alike,
    both are timed on a batch and the faster is taken, with their steps
    per second in the result.
    """
    if config.jit_compile != "auto":
        return {"jit_compile": config.jit_compile, "how": "given"}
    recorded = _recorded_choice(config, output_dir)
    if recorded is not None:
        return recorded
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return {"jit_compile": True, "how": "a TPU runs XLA only"}
    if strategy is not tf.distribute.get_strategy():  # Not the default.
        return {"jit_compile": False,
                "how": "a distribution strategy (as Keras's auto)"}
    if config.steps < MIN_STEPS_TO_MEASURE:
        return {"jit_compile": False,
                "how": f"a run of fewer than {MIN_STEPS_TO_MEASURE} steps"}
    batch = make_batch()
    speeds = {}
    for jit_compile in (True, False):
        model = make_model(jit_compile)
        speeds[jit_compile] = _steps_per_second(model, batch)
        del model
    return {
        "jit_compile": speeds[True] > speeds[False],
        "how": "measured",
        "xla_steps_per_second": speeds[True],
        "plain_steps_per_second": speeds[False],
    }


def _recorded_choice(config, output_dir):
    choice_path = os.path.join(output_dir, CHOICE_FILE)
    run_path = os.path.join(output_dir, RUN_FILE)
    if not (os.path.exists(choice_path) and os.path.exists(run_path)):
        return None
    if read_json(run_path) != json.loads(json.dumps(config.record())):
        return None  # Another run's folder: `claim_output_dir` refuses it.
    return read_json(choice_path)


def _steps_per_second(model, batch):
    # The first two steps trace and compile; then the step is timed.
    for _ in range(2):
        model.train_on_batch(*batch)
    started = time.perf_counter()
    for _ in range(TIMED_STEPS):
        model.train_on_batch(*batch)
    speed = TIMED_STEPS / (time.perf_counter() - started)
    keras.backend.clear_session(free_memory=False)
    return speed
