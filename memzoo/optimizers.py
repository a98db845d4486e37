"""Optimizers that train the same on many devices as on one."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="memzoo")
class ReplicaSumClippedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose clipping sees the whole batch's gradient.

    Keras 3 clips gradients before it sums them over the replicas of a
    `tf.distribute` strategy (`BaseOptimizer.apply` calls `_clip_gradients`,
    then the TensorFlow backend's update step all-reduces), so with N
    replicas each replica's share is clipped on its own, and training
    differs from one device's whenever a gradient is clipped. This Adam
    clips after the sum; on one replica it is Adam. It overrides private
    Keras API (TensorFlow backend), needed while Keras clips first.

    Example:

    ```python
    optimizer = memzoo.optimizers.ReplicaSumClippedAdam(1e-3, global_clipnorm=1.0)
    ```
    """

    def _clip_gradients(self, grads):
        if _num_replicas() > 1:
            return grads  # Clipped once summed, in `_all_reduce_sum_gradients`.
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        grads_and_vars = super()._all_reduce_sum_gradients(grads_and_vars)
        if _num_replicas() == 1 or not grads_and_vars:
            return grads_and_vars
        grads, variables = zip(*grads_and_vars)
        return list(zip(super()._clip_gradients(list(grads)), variables))


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync
