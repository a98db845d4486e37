"""What the memory tasks share: symbols, argument checks, the batch stream.

The tasks' symbols are printable ASCII as `ByteTokenizer` ids; `task_dataset`
turns a task's `(prompt, answer)` examples into the seeded stream of
`(inputs, targets, sample_weight)` batches `memzoo.data.tasks` describes.
"""

import random
import string

import tensorflow as tf

from memzoo.data.byte_tokenizer import ByteTokenizer
from memzoo.validation import check_integer

VOCABULARY_SIZE = ByteTokenizer.vocabulary_size

BLANK = "."
DELIMITER = ":"
QUERY = "?"
MARKERS = BLANK + DELIMITER + QUERY
DIGITS = string.digits
LETTERS = string.ascii_lowercase


def task_dataset(make_example, batch_size, seed, num_batches, sequence_length=None):
    """Batches `make_example(seed) -> (prompt, answer)` as LM training data.

    `make_example` may also return a third tensor: the weight of each answer
    token (1 for all of them when it does not).

    `sequence_length`: when given, examples shorter than it are padded at
    the end with blanks weighted 0.
    """
    if num_batches is None:
        indices = tf.data.Dataset.counter()
    else:
        indices = tf.data.Dataset.range(num_batches * batch_size)

    def to_training_example(index):
        example_seed = tf.stack([tf.constant(seed, tf.int64), index])
        prompt, answer, *answer_weight = make_example(example_seed)
        sequence = tf.concat([prompt, answer], 0)
        answer_weight = (
            answer_weight[0] if answer_weight else tf.ones([tf.shape(answer)[0]])
        )
        # Position t predicts token t + 1: the answer is predicted from the
        # prompt's last token on.
        sample_weight = tf.concat(
            [tf.zeros([tf.shape(prompt)[0] - 1]), answer_weight], 0,
        )
        if sequence_length is not None:
            padding = sequence_length + 1 - tf.shape(sequence)[0]
            sequence = tf.concat([sequence, tf.repeat(symbol_ids(BLANK), padding)], 0)
            sample_weight = tf.pad(sample_weight, [[0, padding]])
            sequence = tf.ensure_shape(sequence, [sequence_length + 1])
            sample_weight = tf.ensure_shape(sample_weight, [sequence_length])
        return sequence[:-1], sequence[1:], sample_weight

    dataset = indices.map(to_training_example, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE
    )


def check_common(batch_size, seed, num_batches):
    """Checks the arguments every task takes; draws a seed for `None`."""
    batch_size = check_integer("batch_size", batch_size)
    if seed is None:
        seed = random.randrange(2**31)
    seed = check_integer("seed", seed, minimum=0)
    if seed >= 2**63:
        raise ValueError(
            "Invalid value for argument `seed`. Expected an integer below "
            f"2**63. Received: seed={seed}"
        )
    if num_batches is not None:
        num_batches = check_integer("num_batches", num_batches)
    return batch_size, seed, num_batches


def check_symbols(name, value):
    """Returns `value` if it is a string of distinct task symbols, else raises."""
    if (
        not isinstance(value, str)
        or not value
        or len(set(value)) != len(value)
        or any(not 33 <= ord(c) < 127 or c in MARKERS for c in value)
    ):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a non-empty string "
            "of distinct printable ASCII characters, without spaces and "
            f"{MARKERS!r}. Received: {name}={value!r}"
        )
    return value


def symbol_ids(text):
    """Byte-tokenizer ids of ASCII text, as an int32 tensor."""
    offset = ByteTokenizer.num_special_ids
    return tf.constant([ord(c) + offset for c in text], tf.int32)


def random_symbols(seed, symbols, count):
    """`count` ids drawn uniformly, with repetition, from the characters."""
    choices = tf.random.stateless_uniform(
        [count], seed, maxval=len(symbols), dtype=tf.int32
    )
    return tf.gather(symbol_ids(symbols), choices)
