"""Training under a `tf.distribute` strategy."""

import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


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


def worker_output_dir(output_dir, strategy):
    """`output_dir` for the chief; a folder of its own inside it for any other
    worker, so that only the chief writes the run's files."""
    if is_chief(strategy):
        return output_dir
    resolver = strategy.cluster_resolver
    return os.path.join(output_dir, "workers",
                        f"{resolver.task_type}-{resolver.task_id}")


def shard_by_data(dataset):
    """`dataset`, divided among the workers of a multi-worker strategy by its
    elements: a stream cut into windows, or shuffled examples of a few
    files, has no files to divide among them."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def prepare_multi_worker_fit(model, strategy, element_spec, batch_size,
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
