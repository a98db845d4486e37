"""`tf.data` pipelines that turn token ids into next-token training pairs."""

import tensorflow as tf

from memzoo.validation import check_integer


def language_modeling_dataset(
    token_ids, sequence_length, batch_size, shuffle=True, seed=None
):
    """Cuts a stream of ids into `(inputs, targets)` batches for a causal LM.

    Args:
        token_ids: 1-D int tensor or array. The token stream.
        sequence_length: int. Tokens per example; targets are the inputs
            shifted by one token.
        batch_size: int. Examples per batch (the last partial batch is
            dropped, so every batch has a static shape, as XLA wants).
        shuffle: bool. Whether to shuffle the examples.
        seed: int or `None`. The shuffling seed.

    Returns:
        A `tf.data.Dataset` of `(int32 [batch, time], int32 [batch, time])`.
    """
    sequence_length = check_integer("sequence_length", sequence_length)
    batch_size = check_integer("batch_size", batch_size)
    token_ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
    if token_ids.shape.rank != 1:
        raise ValueError(
            "Invalid value for argument `token_ids`. Expected a 1-D stream of "
            f"ids. Received: shape={token_ids.shape}"
        )
    num_examples = (int(token_ids.shape[0]) - 1) // sequence_length
    if num_examples < batch_size:
        raise ValueError(
            "Invalid value for argument `token_ids`. Expected at least "
            f"{batch_size * sequence_length + 1} tokens for batch_size="
            f"{batch_size} and sequence_length={sequence_length}. Received: "
            f"{int(token_ids.shape[0])} tokens"
        )
    # Targets are the inputs shifted by one, so windows overlap by one token.
    stop = num_examples * sequence_length
    inputs = tf.reshape(token_ids[:stop], [num_examples, sequence_length])
    targets = tf.reshape(token_ids[1 : stop + 1], [num_examples, sequence_length])
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        dataset = dataset.shuffle(num_examples, seed=seed)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE
    )
