import numpy as np
import pytest
import tensorflow as tf

import memzoo
from memzoo.data import tasks

TOKENIZER = memzoo.data.ByteTokenizer()

# name -> (tiny arguments, time steps, the weights that end each row)
TINY_TASKS = {
    "copy": ({"length": 4, "distance": 3}, 11, [1] * 4),
    "associative_recall": ({"num_pairs": 3, "distance": 4}, 12, [1]),
    # Keys are given, values answered: `?c7a3`, the `?` predicting `c`.
    "multi_query_associative_recall": (
        {"num_pairs": 3, "gap": 4, "num_queries": 2}, 14, [0, 1, 0, 1]),
    "passkey": ({"distance": 7, "num_digits": 3}, 104, [1] * 3),
    "selective_copy": ({"num_symbols": 3, "distance": 5}, 11, [1] * 3),
}


def batches(name, batch_size=3, num_batches=1, seed=0, **arguments):
    dataset = tasks.TASKS[name](
        batch_size, seed=seed, num_batches=num_batches, **arguments
    )
    return [tuple(t.numpy() for t in batch) for batch in dataset]


def examples(name, **arguments):
    """Each example's full token sequence (`inputs` plus the last target)."""
    inputs, targets, sample_weight = batches(name, **arguments)[0]
    np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])
    sequences = np.concatenate([inputs, targets[:, -1:]], axis=1)
    return sequences, inputs, targets, sample_weight


def text(ids):
    return TOKENIZER.decode(ids.tolist())


@pytest.mark.parametrize("name", sorted(TINY_TASKS))
def test_batches_are_static_next_token_pairs_weighted_on_the_answer(name):
    arguments, time, answer_weights = TINY_TASKS[name]
    dataset = tasks.TASKS[name](3, seed=0, num_batches=2, **arguments)
    for spec, dtype in zip(dataset.element_spec, [tf.int32, tf.int32, tf.float32]):
        assert spec.shape == (3, time) and spec.dtype == dtype
    assert dataset.cardinality() == 2
    for inputs, targets, sample_weight in dataset:
        inputs, targets = inputs.numpy(), targets.numpy()
        np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])
        assert 3 <= inputs.min() and inputs.max() < tasks.VOCABULARY_SIZE
        expected = np.zeros(time, np.float32)
        expected[time - len(answer_weights) :] = answer_weights
        np.testing.assert_array_equal(sample_weight, np.tile(expected, (3, 1)))


def test_copy_with_min_length_copies_1_to_length_symbols_padded_with_unweighted_blanks():
    length, distance = 5, 2
    sequences, inputs, targets, sample_weight = examples(
        "copy", length=length, distance=distance, vocabulary="xyz",
        min_length=1, batch_size=64,
    )
    assert inputs.shape == (64, 2 * length + distance)
    counts = sample_weight.sum(axis=1).astype(int)
    assert set(counts) == set(range(1, length + 1))
    for sequence, weights, count in zip(sequences, sample_weight, counts):
        symbols = text(sequence[:count])
        assert set(symbols) <= set("xyz")
        answer_end = 2 * count + distance + 1
        assert text(sequence[count:answer_end]) == "." * distance + ":" + symbols
        assert text(sequence[answer_end:]) == "." * (2 * (length - count))
        expected = np.zeros(2 * length + distance, np.float32)
        expected[count + distance : answer_end - 1] = 1.0
        np.testing.assert_array_equal(weights, expected)


def test_copy_with_min_length_equal_to_length_is_the_plain_copy():
    plain = batches("copy", length=4, distance=1, seed=3)[0]
    same = batches("copy", length=4, distance=1, seed=3, min_length=4)[0]
    for a, b in zip(plain, same):
        np.testing.assert_array_equal(a, b)


def test_streams_are_infinite_unless_num_batches_is_given():
    dataset = tasks.copy(2, length=3, distance=1, seed=0)
    assert dataset.cardinality() == tf.data.INFINITE_CARDINALITY
    assert len(list(dataset.take(5))) == 5


@pytest.mark.parametrize("distance", [0, 6])
def test_copy_reproduces_the_sequence_after_distance_blanks(distance):
    length = 5
    sequences, inputs, targets, sample_weight = examples(
        "copy", length=length, distance=distance, vocabulary="xyz"
    )
    for sequence, row_inputs, row_targets, weights in zip(
        sequences, inputs, targets, sample_weight
    ):
        symbols = text(sequence[:length])
        assert set(symbols) <= set("xyz")
        assert text(sequence[length:]) == "." * distance + ":" + symbols
        answer_positions = np.flatnonzero(weights)
        assert text(row_targets[answer_positions]) == symbols
        # The token to predict at t is the input at t - (length + distance).
        np.testing.assert_array_equal(
            row_targets[answer_positions],
            row_inputs[answer_positions - (length + distance)],
        )


@pytest.mark.parametrize("distance", [0, 5])
def test_associative_recall_answers_the_queried_keys_value(distance):
    num_pairs = 4
    sequences, inputs, targets, sample_weight = examples(
        "associative_recall", batch_size=8, num_pairs=num_pairs, distance=distance
    )
    queried = set()
    for sequence, row_targets, weights in zip(sequences, targets, sample_weight):
        prompt = text(sequence)
        pairs = dict(zip(prompt[0 : 2 * num_pairs : 2], prompt[1 : 2 * num_pairs : 2]))
        assert len(pairs) == num_pairs
        assert set(pairs) <= set(tasks.LETTERS)
        assert set(pairs.values()) <= set(tasks.DIGITS)
        # The filler starts right after the pairs and is `distance` long.
        assert prompt[2 * num_pairs :] == "." * distance + "?" + prompt[-2:]
        key, value = prompt[-2], prompt[-1]
        assert text(row_targets[weights == 1]) == value == pairs[key]
        queried.add(prompt.index(key) // 2)
    assert len(queried) > 1


@pytest.mark.parametrize("gap", [0, 7])
def test_multi_query_associative_recall_asks_for_the_pairs_after_the_gap(gap):
    num_pairs, num_queries = 4, 3
    sequences, inputs, targets, sample_weight = examples(
        "multi_query_associative_recall", batch_size=8, num_pairs=num_pairs,
        gap=gap, num_queries=num_queries,
    )
    orders = set()
    for sequence, row_targets, weights in zip(sequences, targets, sample_weight):
        prompt = text(sequence)
        pairs = dict(zip(prompt[0 : 2 * num_pairs : 2], prompt[1 : 2 * num_pairs : 2]))
        assert len(pairs) == num_pairs
        assert set(pairs) <= set(tasks.LETTERS)
        assert set(pairs.values()) <= set(tasks.DIGITS)
        queries = prompt[2 * num_pairs + gap + 1 :]
        assert prompt[2 * num_pairs : 2 * num_pairs + gap + 1] == "." * gap + "?"
        asked = queries[0::2]
        assert len(set(asked)) == num_queries and set(asked) <= set(pairs)
        # Each answer is its key's value, weighted; nothing else is.
        assert text(row_targets[weights == 1]) == "".join(pairs[k] for k in asked)
        assert queries[1::2] == "".join(pairs[k] for k in asked)
        assert weights.sum() == num_queries
        orders.add(asked)
    assert len(orders) > 1
    with pytest.raises(ValueError, match="argument `num_queries`. Expected at most num_pairs=4"):
        tasks.multi_query_associative_recall(2, num_pairs=4, gap=1, num_queries=5)


@pytest.mark.parametrize("distance", [0, 9, 100])
def test_passkey_is_hidden_distance_tokens_before_the_question(distance):
    num_digits = 4
    sequences, inputs, targets, sample_weight = examples(
        "passkey", distance=distance, num_digits=num_digits
    )
    for sequence, row_inputs, row_targets, weights in zip(
        sequences, inputs, targets, sample_weight
    ):
        prompt = text(sequence)
        assert prompt.startswith("The grass is green. The sky is blue. ")
        start = prompt.index("The pass key is ") + len("The pass key is ")
        digits = prompt[start : start + num_digits]
        assert digits.isdigit()
        question = prompt.index("\nWhat is the pass key? The pass key is ")
        assert question - (start + num_digits) == distance
        assert not any(c.isdigit() for c in prompt[start + num_digits : question])
        answer_positions = np.flatnonzero(weights)
        assert text(row_targets[answer_positions]) == digits
        assert prompt.endswith("The pass key is " + digits)
        # The question is 39 tokens, so digits are read this far back.
        lookback = distance + num_digits + 38
        np.testing.assert_array_equal(
            row_targets[answer_positions],
            row_inputs[answer_positions - lookback],
        )


@pytest.mark.parametrize("distance", [0, 12])
def test_selective_copy_scatters_the_symbols_among_distance_blanks(distance):
    num_symbols = 4
    sequences, inputs, targets, sample_weight = examples(
        "selective_copy", batch_size=8, num_symbols=num_symbols, distance=distance
    )
    region = num_symbols + distance
    layouts = set()
    for sequence, row_targets, weights in zip(sequences, targets, sample_weight):
        prompt = text(sequence)
        scattered = prompt[:region]
        assert scattered.count(".") == distance
        symbols = scattered.replace(".", "")
        assert set(symbols) <= set("abcdefgh")
        assert prompt[region:] == ":" + symbols
        assert text(row_targets[weights == 1]) == symbols
        layouts.add(tuple(c == "." for c in scattered))
    assert len(layouts) > 1 or distance == 0


def test_same_seed_same_batches_other_seed_other_batches():
    for name, (arguments, _, _) in TINY_TASKS.items():
        first = batches(name, num_batches=2, seed=7, **arguments)
        again = batches(name, num_batches=2, seed=7, **arguments)
        other = batches(name, num_batches=2, seed=8, **arguments)
        for a, b in zip(first, again):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
        assert not np.array_equal(first[0][0], other[0][0]), name
        assert not np.array_equal(first[0][0], first[1][0]), name


def test_examples_do_not_depend_on_the_batch_size():
    one_batch = batches("copy", batch_size=4, length=3, distance=2)
    two_batches = batches("copy", batch_size=2, num_batches=2, length=3, distance=2)
    np.testing.assert_array_equal(
        one_batch[0][0], np.concatenate([two_batches[0][0], two_batches[1][0]])
    )


def test_seed_none_draws_a_seed():
    first = next(iter(tasks.copy(4, length=8, distance=0)))[0].numpy()
    second = next(iter(tasks.copy(4, length=8, distance=0)))[0].numpy()
    assert not np.array_equal(first, second)


def test_chance_accuracy():
    assert tasks.chance_accuracy("copy") == 1 / 8
    assert tasks.chance_accuracy("copy", distance=50, vocabulary="abcd") == 0.25
    assert tasks.chance_accuracy("associative_recall", num_pairs=10) == 0.1
    assert tasks.chance_accuracy("associative_recall", value_vocabulary="xyz") == 1 / 3
    assert tasks.chance_accuracy("multi_query_associative_recall", gap=9) == 0.1
    assert tasks.chance_accuracy("passkey", distance=100, num_digits=7) == 0.1
    assert tasks.chance_accuracy("selective_copy", vocabulary="ab") == 0.5
    with pytest.raises(ValueError, match="`task_name`.*Received: task_name='mqar'"):
        tasks.chance_accuracy("mqar")
    with pytest.raises(ValueError, match="`vocabulary`.*Received: vocabulary=''"):
        tasks.chance_accuracy("copy", vocabulary="")
    with pytest.raises(TypeError, match="num_pairs"):
        tasks.chance_accuracy("copy", num_pairs=3)


def test_chance_is_what_an_answer_without_memory_scores():
    # Guessing a fixed symbol hits each uniform answer token with that chance.
    _, _, targets, sample_weight = examples(
        "copy", batch_size=400, length=5, distance=0, vocabulary="abcd"
    )
    hits = (targets == TOKENIZER.encode("a")[0]) * sample_weight
    accuracy = hits.sum() / sample_weight.sum()
    assert abs(accuracy - tasks.chance_accuracy("copy", vocabulary="abcd")) < 0.03


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("copy", {"batch_size": 0}, "`batch_size`.*Received: batch_size=0"),
        ("copy", {"length": 0}, "`length`.*Received: length=0"),
        ("copy", {"distance": -1}, "`distance`.*Received: distance=-1"),
        ("copy", {"distance": 2.5}, "`distance`.*Received: distance=2.5"),
        ("copy", {"vocabulary": "ab.c"}, "`vocabulary`.*Received: vocabulary='ab.c'"),
        ("copy", {"vocabulary": "aab"}, "`vocabulary`.*Received: vocabulary='aab'"),
        ("copy", {"vocabulary": "a b"}, "`vocabulary`.*Received: vocabulary='a b'"),
        ("copy", {"vocabulary": ["a"]}, r"`vocabulary`.*Received: vocabulary=\['a'\]"),
        ("copy", {"seed": -1}, "`seed`.*Received: seed=-1"),
        ("copy", {"seed": 2**63}, "`seed`.*Received: seed=9223372036854775808"),
        ("copy", {"num_batches": 0}, "`num_batches`.*Received: num_batches=0"),
        ("associative_recall", {"num_pairs": 0}, "`num_pairs`.*Received: num_pairs=0"),
        (
            "associative_recall",
            {"num_pairs": 4, "key_vocabulary": "abc"},
            "`num_pairs`. Expected at most 3.*Received: num_pairs=4",
        ),
        ("associative_recall", {"distance": -2}, "`distance`.*Received: distance=-2"),
        (
            "associative_recall",
            {"key_vocabulary": "ab?"},
            "`key_vocabulary`.*Received: key_vocabulary='ab\\?'",
        ),
        (
            "associative_recall",
            {"value_vocabulary": "1a"},
            "`value_vocabulary`. Expected no character.*value_vocabulary='1a'",
        ),
        ("copy", {"min_length": 5}, "`min_length`. Expected at most length=4.*min_length=5"),
        ("copy", {"min_length": 0}, "`min_length`.*Received: min_length=0"),
        ("passkey", {"distance": -1}, "`distance`.*Received: distance=-1"),
        ("passkey", {"num_digits": 0}, "`num_digits`.*Received: num_digits=0"),
        ("passkey", {"batch_size": "2"}, "`batch_size`.*Received: batch_size='2'"),
        ("selective_copy", {"num_symbols": 0}, "`num_symbols`.*num_symbols=0"),
        ("selective_copy", {"distance": True}, "`distance`.*Received: distance=True"),
        ("selective_copy", {"vocabulary": ""}, "`vocabulary`.*Received: vocabulary=''"),
    ],
)
def test_bad_arguments(name, overrides, message):
    arguments = {"batch_size": 2, **TINY_TASKS[name][0], **overrides}
    with pytest.raises(ValueError, match=message):
        tasks.TASKS[name](**arguments)


def test_a_language_model_fits_a_task_counting_only_the_answer():
    model = memzoo.LSTMLanguageModel(
        vocab_size=tasks.VOCABULARY_SIZE, embedding_dim=8, hidden_dim=8, num_layers=1
    )
    model.compile(weighted_metrics=["sparse_categorical_accuracy"])
    history = model.fit(
        tasks.copy(2, length=3, distance=2, seed=0),
        steps_per_epoch=2,
        shuffle=False,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][-1])
    assert "sparse_categorical_accuracy" in history.history
