"""Synthetic memory tasks: the answer depends on tokens `distance` tokens back.

Every task is a `tf.data.Dataset` of `(inputs, targets, sample_weight)`
batches for a causal language model: `inputs` are int32 ids
`[batch, time]`, `targets` the next id at each position, and
`sample_weight` is 1.0 exactly where the next id is part of the answer, so
the loss and weighted metrics count only the answer. Ids are
`ByteTokenizer` ids of printable ASCII text, so the zoo's byte-level models
take the batches unchanged and `ByteTokenizer().detokenize` shows them as
text. Examples are drawn with stateless random ops keyed by the seed and
the example's index: the same seed gives the same batches on every
iteration, and example `i` does not depend on `batch_size`.

The stream is infinite unless `num_batches` is given, so train with
`steps_per_epoch`, and count the answer only with `weighted_metrics`:

    model.compile(weighted_metrics=["sparse_categorical_accuracy"])
    model.fit(memzoo.data.tasks.copy(32, length=8, distance=64, seed=0),
              steps_per_epoch=100, epochs=10)

A model that cannot see back far enough to the information scores
`chance_accuracy(task_name, **task_arguments)` on the answer tokens.
"""

import inspect

from memzoo.data.task_batches import BLANK
from memzoo.data.task_batches import DELIMITER
from memzoo.data.task_batches import DIGITS
from memzoo.data.task_batches import LETTERS
from memzoo.data.task_batches import MARKERS
from memzoo.data.task_batches import QUERY
from memzoo.data.task_batches import VOCABULARY_SIZE
from memzoo.data.task_batches import check_symbols
from memzoo.data.task_generators import PASSKEY_FILLER
from memzoo.data.task_generators import PASSKEY_INTRO
from memzoo.data.task_generators import PASSKEY_QUESTION
from memzoo.data.task_generators import associative_recall
from memzoo.data.task_generators import copy
from memzoo.data.task_generators import multi_query_associative_recall
from memzoo.data.task_generators import passkey
from memzoo.data.task_generators import selective_copy

__all__ = [
    "BLANK", "DELIMITER", "DIGITS", "LETTERS", "MARKERS", "QUERY",
    "VOCABULARY_SIZE", "PASSKEY_FILLER", "PASSKEY_INTRO", "PASSKEY_QUESTION",
    "TASKS", "associative_recall", "chance_accuracy", "copy", "memory_task",
    "multi_query_associative_recall", "passkey", "selective_copy",
]

TASKS = {
    "copy": copy,
    "associative_recall": associative_recall,
    "multi_query_associative_recall": multi_query_associative_recall,
    "passkey": passkey,
    "selective_copy": selective_copy,
}


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
    if name not in TASKS:
        return None
    task = TASKS[name]
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


def chance_accuracy(task_name, **task_arguments):
    """The answer-token accuracy of a model that cannot see the information.

    Answer symbols are independent and uniform, so a model that does not
    remember what came `distance` tokens back guesses each one: its expected
    accuracy (weighted by `sample_weight`) is one over the number of symbols
    an answer token is drawn from.

    Args:
        task_name: str. One of `"copy"`, `"associative_recall"`,
            `"multi_query_associative_recall"`, `"passkey"`,
            `"selective_copy"`.
        **task_arguments: The task's arguments; only the answer's symbols
            (`vocabulary`, `value_vocabulary`) matter, and left out they
            take their defaults.

    Returns:
        A float in (0, 1].

    Example:

    ```python
    memzoo.data.tasks.chance_accuracy("copy", length=8, distance=100)   # 0.125
    memzoo.data.tasks.chance_accuracy("associative_recall", value_vocabulary="xyz")
    ```
    """
    if task_name not in TASKS:
        raise ValueError(
            f"Invalid value for argument `task_name`. Expected one of "
            f"{sorted(TASKS)}. Received: task_name={task_name!r}"
        )
    arguments = inspect.signature(TASKS[task_name]).bind_partial(
        **task_arguments
    )
    arguments.apply_defaults()
    if task_name == "passkey":
        return 1.0 / len(DIGITS)
    name = "value_vocabulary" if "associative_recall" in task_name else "vocabulary"
    return 1.0 / len(check_symbols(name, arguments.arguments[name]))
