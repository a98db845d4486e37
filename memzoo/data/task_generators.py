"""The memory tasks: copy, associative recall, pass key and selective copy.

Used from `memzoo.data.tasks`, whose docstring says what their batches hold.
"""

import tensorflow as tf

from memzoo.data.task_batches import BLANK
from memzoo.data.task_batches import DELIMITER
from memzoo.data.task_batches import DIGITS
from memzoo.data.task_batches import LETTERS
from memzoo.data.task_batches import QUERY
from memzoo.data.task_batches import check_common
from memzoo.data.task_batches import check_symbols
from memzoo.data.task_batches import random_symbols
from memzoo.data.task_batches import symbol_ids
from memzoo.data.task_batches import task_dataset
from memzoo.validation import check_integer

PASSKEY_FILLER = "The grass is green. The sky is blue. "
PASSKEY_INTRO = "The pass key is "
PASSKEY_QUESTION = "\nWhat is the pass key? The pass key is "


def copy(batch_size, length, distance, vocabulary="abcdefgh", seed=None,
         num_batches=None, min_length=None):
    """Copy task: recall a sequence after a stretch of blanks.

    An example is `length` random symbols, `distance` blanks (`.`), a
    delimiter (`:`) and the same symbols again, which are the answer. Each
    answer token is predicted `length + distance` positions after the symbol
    it copies, so a model needs to reach that far back; one that cannot
    scores chance, `1 / len(vocabulary)` per answer token. With
    `min_length`, each example copies a number of symbols drawn uniformly
    from `min_length` to `length`, as Graves et al. (2014) train their Neural
    Turing Machine, and is padded at the end with blanks weighted 0, so the
    batches keep their shape.

    Args:
        batch_size: int. Examples per batch.
        length: int. Symbols to copy.
        distance: int >= 0. Blanks between the symbols and the delimiter.
        vocabulary: str. The symbols, distinct printable ASCII characters
            other than `.:?`; drawn uniformly with repetition.
        seed: int >= 0 or `None`. Seed of the examples; `None` draws one
            when the dataset is made.
        num_batches: int or `None`. Batches to make; `None` never ends.
        min_length: int or `None`. The fewest symbols an example copies;
            `None` copies exactly `length`.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)`, each
        `[batch_size, 2 * length + distance]` (int32, int32, float32).

    Example:

    ```python
    dataset = memzoo.data.tasks.copy(2, length=4, distance=3, seed=0, num_batches=1)
    inputs, targets, sample_weight = next(iter(dataset))
    tokenizer = memzoo.data.ByteTokenizer()
    tokenizer.detokenize(inputs)    # [b"gbcc...:gbc", b"dcaf...:dca"]
    tokenizer.detokenize(targets)   # [b"bcc...:gbcc", b"caf...:dcaf"]
    sample_weight[0]                # [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    memzoo.data.tasks.chance_accuracy("copy")   # 0.125
    shorter = memzoo.data.tasks.copy(2, length=4, distance=0, seed=0,
                                     num_batches=1, min_length=1)
    tokenizer.detokenize(next(iter(shorter))[0])   # [b"gb:gb...", b"dcaf:dca"]
    ```
    """
    batch_size, seed, num_batches = check_common(batch_size, seed, num_batches)
    length = check_integer("length", length)
    distance = check_integer("distance", distance, minimum=0)
    vocabulary = check_symbols("vocabulary", vocabulary)
    if min_length is None:
        min_length = length
    min_length = check_integer("min_length", min_length)
    if min_length > length:
        raise ValueError(
            "Invalid value for argument `min_length`. Expected at most "
            f"length={length}. Received: min_length={min_length}"
        )
    gap = symbol_ids(BLANK * distance + DELIMITER)

    def make_example(example_seed):
        # The symbols are those of the fixed-length example of the same seed.
        symbols = random_symbols(example_seed, vocabulary, length)
        if min_length < length:
            count = tf.random.stateless_uniform(
                [], tf.random.experimental.stateless_fold_in(example_seed, 1),
                minval=min_length, maxval=length + 1, dtype=tf.int32,
            )
            symbols = symbols[:count]
        return tf.concat([symbols, gap], 0), symbols

    return task_dataset(make_example, batch_size, seed, num_batches,
                    sequence_length=2 * length + distance)


def associative_recall(batch_size, num_pairs, distance, key_vocabulary=LETTERS,
                       value_vocabulary=DIGITS, seed=None, num_batches=None):
    """Associative recall: the value of a key seen before a stretch of filler.

    An example is `num_pairs` key-value pairs (distinct keys, random
    values), `distance` filler tokens (`.`), a query marker (`?`) and one of
    the keys; the answer is the value paired with it, e.g. `a3c7b1...?c` →
    `7`. The queried value lies `distance + 2` (last pair) to
    `distance + 2 * num_pairs` (first pair) positions before the query key.
    A model that cannot see the pairs scores chance,
    `1 / len(value_vocabulary)`.

    Args:
        batch_size: int. Examples per batch.
        num_pairs: int. Key-value pairs, at most `len(key_vocabulary)`.
        distance: int >= 0. Filler tokens between the pairs and the query.
        key_vocabulary: str. The keys, distinct printable ASCII characters
            other than `.:?`.
        value_vocabulary: str. The values, in the same form, none of them a
            key.
        seed: int >= 0 or `None`. Seed of the examples; `None` draws one
            when the dataset is made.
        num_batches: int or `None`. Batches to make; `None` never ends.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)`, each
        `[batch_size, 2 * num_pairs + distance + 2]` (int32, int32, float32).

    Example:

    ```python
    dataset = memzoo.data.tasks.associative_recall(
        2, num_pairs=3, distance=4, seed=0, num_batches=1)
    inputs, targets, sample_weight = next(iter(dataset))
    tokenizer = memzoo.data.ByteTokenizer()
    tokenizer.detokenize(inputs)    # [b"w9m8g8....?m", b"p5l2j9....?l"]
    tokenizer.detokenize(targets[:, -1:])   # [b"8", b"2"], weighted 1
    memzoo.data.tasks.chance_accuracy("associative_recall")   # 0.1
    ```
    """
    batch_size, seed, num_batches = check_common(batch_size, seed, num_batches)
    num_pairs, keys = _check_pairs(num_pairs, key_vocabulary, value_vocabulary)
    distance = check_integer("distance", distance, minimum=0)
    gap = symbol_ids(BLANK * distance + QUERY)

    def make_example(example_seed):
        key_seed, value_seed, query_seed = tf.unstack(
            tf.random.split(example_seed, 3)
        )
        pair_keys, pair_values = _draw_pairs(
            keys, key_seed, value_seed, value_vocabulary, num_pairs
        )
        pairs = tf.reshape(tf.stack([pair_keys, pair_values], axis=1), [-1])
        query = tf.random.stateless_uniform(
            [1], query_seed, maxval=num_pairs, dtype=tf.int32
        )
        prompt = tf.concat([pairs, gap, tf.gather(pair_keys, query)], 0)
        return prompt, tf.gather(pair_values, query)

    return task_dataset(make_example, batch_size, seed, num_batches)


def multi_query_associative_recall(batch_size, num_pairs, gap, num_queries=None,
                                   key_vocabulary=LETTERS,
                                   value_vocabulary=DIGITS, seed=None,
                                   num_batches=None):
    """Multi-query associative recall at a distance (Zoology's MQAR).

    An example is `num_pairs` key-value pairs (distinct keys, random
    values), `gap` filler tokens (`.`), a query marker (`?`), then
    `num_queries` of the pairs again in a random order: each key is given
    and its value is the answer, e.g. `a3c7b1....?c7a3` with `7` and `3`
    weighted. Arora et al. (2023) measure a model's recall this way; with
    the gap, every answer lies more than `gap` tokens after its pair, so a
    model whose attention reaches less far recalls only through what it
    carries. One that cannot scores chance, `1 / len(value_vocabulary)`.

    Args:
        batch_size: int. Examples per batch.
        num_pairs: int. Key-value pairs, at most `len(key_vocabulary)`.
        gap: int >= 0. Filler tokens between the pairs and the queries.
        num_queries: int or `None`. Pairs asked for, at most `num_pairs`
            (`None`: all of them).
        key_vocabulary: str. The keys, distinct printable ASCII characters
            other than `.:?`.
        value_vocabulary: str. The values, in the same form, none of them a
            key.
        seed: int >= 0 or `None`. Seed of the examples; `None` draws one
            when the dataset is made.
        num_batches: int or `None`. Batches to make; `None` never ends.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)`, each
        `[batch_size, 2 * (num_pairs + num_queries) + gap]` (int32, int32,
        float32).

    Example:

    ```python
    dataset = memzoo.data.tasks.multi_query_associative_recall(
        1, num_pairs=3, gap=4, seed=0, num_batches=1)
    inputs, targets, sample_weight = next(iter(dataset))
    memzoo.data.ByteTokenizer().detokenize(targets)   # e.g. b"9m8g8....?m8w9g8"
    sample_weight[0, -6:]                             # [0, 1, 0, 1, 0, 1]
    ```
    """
    batch_size, seed, num_batches = check_common(batch_size, seed, num_batches)
    num_pairs, keys = _check_pairs(num_pairs, key_vocabulary, value_vocabulary)
    gap = check_integer("gap", gap, minimum=0)
    if num_queries is None:
        num_queries = num_pairs
    num_queries = check_integer("num_queries", num_queries)
    if num_queries > num_pairs:
        raise ValueError(
            "Invalid value for argument `num_queries`. Expected at most "
            f"num_pairs={num_pairs}. Received: num_queries={num_queries}"
        )
    filler = symbol_ids(BLANK * gap + QUERY)
    answer_weight = tf.tile(tf.constant([0.0, 1.0]), [num_queries])

    def make_example(example_seed):
        key_seed, value_seed, query_seed = tf.unstack(
            tf.random.split(example_seed, 3)
        )
        pair_keys, pair_values = _draw_pairs(
            keys, key_seed, value_seed, value_vocabulary, num_pairs
        )
        asked = tf.argsort(
            tf.random.stateless_uniform([num_pairs], query_seed)
        )[:num_queries]
        queries = tf.reshape(
            tf.stack([tf.gather(pair_keys, asked), tf.gather(pair_values, asked)],
                     axis=1),
            [-1],
        )
        pairs = tf.reshape(tf.stack([pair_keys, pair_values], axis=1), [-1])
        # The first query key ends the prompt: it predicts the first answer.
        prompt = tf.concat([pairs, filler, queries[:1]], 0)
        return prompt, queries[1:], answer_weight[1:]

    return task_dataset(make_example, batch_size, seed, num_batches)


def _check_pairs(num_pairs, key_vocabulary, value_vocabulary):
    """Checks the pair arguments of the recall tasks: `num_pairs` and the
    key ids."""
    key_vocabulary = check_symbols("key_vocabulary", key_vocabulary)
    value_vocabulary = check_symbols("value_vocabulary", value_vocabulary)
    if set(key_vocabulary) & set(value_vocabulary):
        raise ValueError(
            "Invalid value for argument `value_vocabulary`. Expected no "
            f"character of key_vocabulary={key_vocabulary!r}. Received: "
            f"value_vocabulary={value_vocabulary!r}"
        )
    num_pairs = check_integer("num_pairs", num_pairs)
    if num_pairs > len(key_vocabulary):
        raise ValueError(
            "Invalid value for argument `num_pairs`. Expected at most "
            f"{len(key_vocabulary)}, the number of distinct keys in "
            f"key_vocabulary={key_vocabulary!r}. Received: num_pairs={num_pairs}"
        )
    return num_pairs, symbol_ids(key_vocabulary)


def _draw_pairs(keys, key_seed, value_seed, value_vocabulary, num_pairs):
    """Distinct keys (a random permutation's head) and random values."""
    order = tf.argsort(tf.random.stateless_uniform([len(keys)], key_seed))
    pair_keys = tf.gather(keys, order[:num_pairs])
    return pair_keys, random_symbols(value_seed, value_vocabulary, num_pairs)


def passkey(batch_size, distance, num_digits=5, seed=None, num_batches=None):
    """Pass key retrieval: a number hidden in filler text, asked for at the end.

    An example reads `"The grass is green. The sky is blue. The pass key is
    68203. The grass is green. ..."`, then `"\\nWhat is the pass key? The pass
    key is "` and the answer `68203`. Exactly `distance` tokens of text lie
    between the key's last digit and the question, so each digit is
    predicted `distance + num_digits + 38` positions after it appears. A
    model that cannot see the key scores chance, 0.1 per digit.

    Args:
        batch_size: int. Examples per batch.
        distance: int >= 0. Tokens between the pass key and the question.
        num_digits: int. Digits of the pass key, each uniform in 0-9.
        seed: int >= 0 or `None`. Seed of the examples; `None` draws one
            when the dataset is made.
        num_batches: int or `None`. Batches to make; `None` never ends.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)`, each
        `[batch_size, 2 * num_digits + distance + 91]` (int32, int32,
        float32).

    Example:

    ```python
    dataset = memzoo.data.tasks.passkey(2, distance=20, seed=0, num_batches=1)
    inputs, targets, sample_weight = next(iter(dataset))
    memzoo.data.ByteTokenizer().detokenize(targets)[0]
    # b"he grass is green. The sky is blue. The pass key is 09886. The
    #   grass is green\\nWhat is the pass key? The pass key is 09886"
    memzoo.data.tasks.chance_accuracy("passkey")   # 0.1
    ```
    """
    batch_size, seed, num_batches = check_common(batch_size, seed, num_batches)
    distance = check_integer("distance", distance, minimum=0)
    num_digits = check_integer("num_digits", num_digits)
    prefix = symbol_ids(PASSKEY_FILLER + PASSKEY_INTRO)
    # The sentence goes on into the filler, cut to exactly `distance` tokens.
    repeats = distance // len(PASSKEY_FILLER) + 1
    gap = (". " + PASSKEY_FILLER * repeats)[:distance]
    suffix = symbol_ids(gap + PASSKEY_QUESTION)

    def make_example(example_seed):
        digits = random_symbols(example_seed, DIGITS, num_digits)
        return tf.concat([prefix, digits, suffix], 0), digits

    return task_dataset(make_example, batch_size, seed, num_batches)


def selective_copy(batch_size, num_symbols, distance, vocabulary="abcdefgh",
                   seed=None, num_batches=None):
    """Selective copy: recall the symbols scattered among blanks, in order.

    An example is `num_symbols` random symbols at random positions among
    `distance` blanks (`.`), a delimiter (`:`) and the symbols in order,
    which are the answer, e.g. `.b..a.c:` → `bac`. Each answer token is
    predicted up to `num_symbols + distance` positions after its symbol.
    A model that cannot see back past the blanks scores chance,
    `1 / len(vocabulary)` per answer token (a short memory still catches
    symbols that happen to lie near the delimiter).

    Args:
        batch_size: int. Examples per batch.
        num_symbols: int. Symbols to copy.
        distance: int >= 0. Blanks the symbols are scattered among.
        vocabulary: str. The symbols, distinct printable ASCII characters
            other than `.:?`; drawn uniformly with repetition.
        seed: int >= 0 or `None`. Seed of the examples; `None` draws one
            when the dataset is made.
        num_batches: int or `None`. Batches to make; `None` never ends.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)`, each
        `[batch_size, 2 * num_symbols + distance]` (int32, int32, float32).

    Example:

    ```python
    dataset = memzoo.data.tasks.selective_copy(
        2, num_symbols=3, distance=5, seed=0, num_batches=1)
    inputs, targets, sample_weight = next(iter(dataset))
    tokenizer = memzoo.data.ByteTokenizer()
    tokenizer.detokenize(inputs)    # [b"..ec...g:ec", b"a.a...f.:aa"]
    tokenizer.detokenize(targets)   # [b".ec...g:ecg", b".a...f.:aaf"]
    memzoo.data.tasks.chance_accuracy("selective_copy", vocabulary="ab")   # 0.5
    ```
    """
    batch_size, seed, num_batches = check_common(batch_size, seed, num_batches)
    num_symbols = check_integer("num_symbols", num_symbols)
    distance = check_integer("distance", distance, minimum=0)
    vocabulary = check_symbols("vocabulary", vocabulary)
    region_length = num_symbols + distance
    blanks = symbol_ids(BLANK * region_length)
    delimiter = symbol_ids(DELIMITER)

    def make_example(example_seed):
        symbol_seed, position_seed = tf.unstack(tf.random.split(example_seed, 2))
        symbols = random_symbols(symbol_seed, vocabulary, num_symbols)
        # Sorted, so the symbols keep their order among the blanks.
        positions = tf.sort(
            tf.argsort(
                tf.random.stateless_uniform([region_length], position_seed)
            )[:num_symbols]
        )
        region = tf.tensor_scatter_nd_update(
            blanks, positions[:, tf.newaxis], symbols
        )
        return tf.concat([region, delimiter], 0), symbols

    return task_dataset(make_example, batch_size, seed, num_batches)
