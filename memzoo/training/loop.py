"""The train loop: what `memzoo train` runs."""

import math
import os
import time

import keras
import tensorflow as tf
from tensorflow.python.framework.config import disable_op_determinism

from memzoo import data
from memzoo.training.building import build_model
from memzoo.training.building import trainable_class
from memzoo.training.callbacks import fit_callbacks
from memzoo.training.callbacks import tokens_per_batch
from memzoo.training.checkpoint import AtomicBackupAndRestore
from memzoo.training.config import TrainingConfig
from memzoo.training.distribution import get_strategy
from memzoo.training.distribution import prepare_multi_worker_fit
from memzoo.training.distribution import shard_by_data
from memzoo.training.distribution import worker_output_dir
from memzoo.training.optimization import MIXED_PRECISION
from memzoo.training.optimization import compile_for_training
from memzoo.training.run_folder import METRICS_FILE
from memzoo.training.run_folder import MODEL_FILE
from memzoo.training.run_folder import PRESET_DIR
from memzoo.training.run_folder import claim_output_dir
from memzoo.training.run_folder import read_json
from memzoo.training.run_folder import save_model_atomically
from memzoo.training.run_folder import save_preset
from memzoo.training.run_folder import write_json_atomically
from memzoo.training.xla_choice import CHOICE_FILE
from memzoo.training.xla_choice import choose_jit_compile


def train(output_dir, strategy="default", data_dir=None, tpu=None,
          verbose="auto", **settings):
    """Trains a zoo model preset and writes the run into `output_dir`.

    Args:
        output_dir: str. The run's folder (see `memzoo.training`).
        strategy: str or `tf.distribute.Strategy`. One of `STRATEGIES`.
        data_dir: str or `None`. The tensorflow-datasets folder.
        tpu: str or `None`. The TPU for `strategy="tpu"`.
        verbose: Keras `fit` verbosity.
        **settings: the run's settings, `TrainingConfig`'s fields: `preset`,
            `data_source`, `overrides`, `steps` or `epochs`, `batch_size`,
            `sequence_length`, `learning_rate`, `warmup_steps`,
            `jit_compile`, `stateful`, `stream_length`, `mixed_precision`,
            `seed`, `backup_every`, `validation_batches`.

    Returns:
        The metrics written to `metrics.json`, and `output_dir`: the folder
        they are in (a worker other than the chief writes into
        `output_dir/workers/<task>`).
    """
    config = TrainingConfig(**settings)
    if isinstance(strategy, str):
        # First: a multi-worker strategy must exist before any other TF op.
        strategy = get_strategy(strategy, tpu)
    output_dir = worker_output_dir(output_dir, strategy)
    # Op determinism is process-wide and Keras refuses XLA under it: a run
    # without XLA must not turn XLA off for the next run of the process.
    # TensorFlow's public API can only turn it on.
    disable_op_determinism()
    # Resolved before the run is recorded: a resumed run reads its data the
    # way it began, whatever the default.
    config.stateful = stateful = stateful_choice(
        config.stateful, config.preset, config.data_source, strategy)
    # Before the run's own data and model are made: measuring builds and
    # trains others, and the run then seeds everything afresh.
    xla = _choose_jit_compile(config, data_dir, strategy, output_dir, stateful)
    if not xla["jit_compile"]:
        # For exact resume; XLA's CPU kernels are deterministic by themselves
        # (a resumed XLA run ends with the same weights as an uninterrupted
        # one too).
        tf.config.experimental.enable_op_determinism()
    batches = _training_data(config, data_dir, stateful)
    train_stream = shard_by_data(batches.train)
    validation_data = data.finite_dataset(shard_by_data(batches.validation),
                                          "validation")
    model = _build_model(config, batches, strategy)

    # Data and model are checked before the output folder is claimed, so a
    # typo in an option does not leave a run record behind.
    claim_output_dir(output_dir, config.record())
    write_json_atomically(os.path.join(output_dir, CHOICE_FILE), xla)
    metrics_path = os.path.join(output_dir, METRICS_FILE)
    if os.path.exists(metrics_path):  # This run has already finished.
        return dict(read_json(metrics_path), output_dir=output_dir)

    # Keras epochs of equal length that make up exactly `steps`.
    steps = config.steps
    chunk = max(d for d in range(1, min(config.backup_every, steps) + 1)
                if steps % d == 0)
    num_epochs = steps // chunk
    backup = AtomicBackupAndRestore(os.path.join(output_dir, "backup"))
    done_epochs = backup.saved_epoch()
    with strategy.scope():
        compile_for_training(model, config.learning_rate, steps,
                             config.warmup_steps, xla["jit_compile"],
                             answer_only=batches.answer_only)
        # Batch and time stay dynamic; a series keeps its feature count.
        model.build(tf.nest.map_structure(
            lambda spec: (None, None, *spec.shape[2:]),
            train_stream.element_spec[0],
        ))
        # Built here, the optimizer's variables exist before `fit` traces
        # its step; left to the first trace, they made TensorFlow trace the
        # whole training step a second time.
        model.optimizer.build(model.trainable_variables)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        prepare_multi_worker_fit(model, strategy, train_stream.element_spec,
                                 config.batch_size, config.sequence_length)
    throughput, callbacks = fit_callbacks(os.path.join(output_dir, "logs"))
    started = time.time()
    history = model.fit(
        # The stream is the same for the seed on every run, so a resumed run
        # skips exactly the batches its restored steps were trained on.
        train_stream.skip(done_epochs * chunk),
        epochs=num_epochs,
        steps_per_epoch=chunk,
        validation_data=validation_data,
        validation_freq=max(num_epochs // 5, 1),
        callbacks=[backup, *callbacks],
        verbose=verbose,
        shuffle=False,  # The pipeline shuffles, seeded.
    )
    metrics = {
        **_final_scores(model, validation_data, history),
        "steps": steps,
        "steps_this_session": (num_epochs - done_epochs) * chunk,
        "resumed_from_step": done_epochs * chunk,
        "tokens_per_second": throughput.tokens_per_second(
            chunk * tokens_per_batch(train_stream, config.batch_size,
                                     config.sequence_length)
        ),
        "wall_time_seconds": time.time() - started,
        "parameters": model.count_params(),
        "jit_compile": xla,
        "stateful": stateful,
        "config": config.record(),
    }
    save_model_atomically(model, os.path.join(output_dir, MODEL_FILE))
    save_preset(model, os.path.join(output_dir, PRESET_DIR), {
        "run": config.record(),
        "metrics": {k: v for k, v in metrics.items() if k != "config"},
    })
    # Last: it marks the run finished.
    write_json_atomically(metrics_path, metrics)
    return dict(metrics, output_dir=output_dir)


def stateful_choice(stateful, preset, data_source, strategy=None):
    """Whether a run trains statefully: `stateful`, checked, or where it is
    `None`, the family's default (`trains_statefully_by_default`) where it
    can. Stateful training needs a next-token model on a corpus, on one
    machine (the default strategy, or a `MirroredStrategy` or
    `OneDeviceStrategy`, whose replicas each carry the state of their rows
    of the batch). Other strategies split a batch across workers or TPU
    hosts in ways not yet tested."""
    strategy = strategy or tf.distribute.get_strategy()
    supported = (trainable_class(preset).supports_stateful_training
                 and data.tasks.memory_task(data_source) is None)
    one_machine = strategy is tf.distribute.get_strategy() or isinstance(
        strategy, (tf.distribute.MirroredStrategy, tf.distribute.OneDeviceStrategy))
    if stateful is None:
        return (trainable_class(preset).trains_statefully_by_default
                and supported and one_machine)
    if stateful and not supported:
        raise ValueError(
            "Invalid value for argument `stateful`. Expected a next-token "
            "model trained on a corpus (a memory task's examples are "
            f"independent). Received: stateful=True, preset={preset!r}"
            f", data={data_source!r}"
        )
    if stateful and not one_machine:
        raise ValueError(
            "Invalid value for argument `stateful`. Stateful training runs on "
            "one machine (the default, mirrored or one-device strategy) so "
            f"far. Received: stateful=True with a {type(strategy).__name__}"
        )
    return stateful


def _training_data(config, data_dir, stateful=False):
    """The family's `TrainingData` for the run, made reproducibly; sets the
    run's steps when it is given in epochs."""
    # The examples' shuffles take TensorFlow's global seed with their own:
    # set here, the order does not depend on what this process ran before.
    keras.utils.set_random_seed(config.seed)
    batches = trainable_class(config.preset).training_data(
        config.model_config(), config.data_source, config.batch_size,
        config.sequence_length, config.seed, config.validation_batches, data_dir,
        **({"stateful": True, "stream_length": config.stream_length}
           if stateful else {}),
    )
    if config.epochs is not None:
        config.steps = config.epochs * batches.count_pass()
        if config.steps == 0:
            raise ValueError(
                "The training split holds no full batch: use more data or a "
                "smaller --batch-size or --sequence-length."
            )
    return batches


def _choose_jit_compile(config, data_dir, strategy, output_dir, stateful):
    """`xla_choice.choose_jit_compile` for the run, timing models of the
    run's preset on a batch of its data when it measures."""
    measured = {}

    def make_batch():
        measured["batches"] = _training_data(config, data_dir, stateful)
        return next(iter(measured["batches"].train))

    def make_model(jit_compile):
        batches = measured["batches"]
        model = _build_model(config, batches, strategy)
        compile_for_training(model, config.learning_rate, config.steps,
                             config.warmup_steps, jit_compile,
                             answer_only=batches.answer_only)
        return model

    if config.steps is None:  # Given in epochs: the data says how many.
        _training_data(config, data_dir, stateful)
    return choose_jit_compile(config, strategy, output_dir, make_model,
                              make_batch)


def _build_model(config, batches, strategy):
    """The preset's model with the run's overrides and what the data set,
    in the run's precision and under its strategy."""
    # Seeded again: building a tfds dataset on first use draws from Python's
    # `random`, which seeds Keras's initializers, so a run that builds its
    # data would otherwise start from other weights than one that reads it.
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    if config.mixed_precision is not None:
        keras.config.set_dtype_policy(MIXED_PRECISION[config.mixed_precision])
    try:
        with strategy.scope():
            return build_model(config.preset, {**config.overrides, **batches.config})
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _final_scores(model, validation_data, history):
    """Every compiled metric, held-out and (when this session trained) of
    the last training epoch, and a next-token model's perplexity."""
    validation = model.evaluate(validation_data, verbose=0, return_dict=True)
    scores = {f"validation_{name}": value for name, value in validation.items()}
    for name in validation:
        scores[f"train_{name}"] = (
            history.history[name][-1] if history.history else None
        )
    if model.reports_perplexity:
        scores["validation_perplexity"] = math.exp(validation["loss"])
    return scores
