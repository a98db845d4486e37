"""What `jit_compile="auto"` means for `memzoo train`: whichever of XLA and
TensorFlow's own kernels trains the run's model faster here, measured
(`memzoo.models.xla_speed`), and kept for a resumed run.
"""

import json
import os

import tensorflow as tf

from memzoo.models.xla_speed import MIN_STEPS_TO_MEASURE
from memzoo.models.xla_speed import measure_jit_compile
from memzoo.training.run_folder import RUN_FILE
from memzoo.training.run_folder import read_json

# The file of a run's folder that records the choice, so that a resumed run
# keeps it: a choice made again could differ, and XLA's numbers differ from
# TensorFlow's in the last digits.
CHOICE_FILE = "jit_compile.json"


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
    return measure_jit_compile(make_model, make_batch())


def _recorded_choice(config, output_dir):
    choice_path = os.path.join(output_dir, CHOICE_FILE)
    run_path = os.path.join(output_dir, RUN_FILE)
    if not (os.path.exists(choice_path) and os.path.exists(run_path)):
        return None
    if read_json(run_path) != json.loads(json.dumps(config.record())):
        return None  # Another run's folder: `claim_output_dir` refuses it.
    return read_json(choice_path)
