"""Every `Example:` in a public docstring runs as written."""

import inspect
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo
import memzoo.evaluation
import memzoo.models.presets
import memzoo.probe
import memzoo.shipping
import memzoo.tuning


def public_objects():
    modules = [memzoo, memzoo.layers, memzoo.data, memzoo.data.tasks, memzoo.generation,
               memzoo.metrics, memzoo.tuning, memzoo.data.series, memzoo.evaluation,
               memzoo.optimizers, memzoo.probe, memzoo.models.presets,
               memzoo.shipping]
    seen = {}
    for module in modules:
        for name in dir(module):
            value = getattr(module, name)
            if name.startswith("_") or not (
                inspect.isclass(value) or inspect.isfunction(value)
            ):
                continue
            if not getattr(value, "__module__", "").startswith("memzoo"):
                continue
            seen[f"{value.__module__}.{value.__qualname__}"] = value
            if not inspect.isclass(value):
                continue
            for member_name in dir(value):
                member = getattr(value, member_name, None)
                function = getattr(member, "__func__", member)
                if (
                    not member_name.startswith("_")
                    and inspect.isfunction(function)
                    and function.__module__.startswith("memzoo")
                ):
                    seen[f"{function.__module__}.{function.__qualname__}"] = function
    return seen


EXAMPLES = {
    name: block
    for name, value in public_objects().items()
    for block in re.findall(r"```python\n(.*?)```", inspect.getdoc(value) or "", re.S)
}


def test_the_public_models_and_layers_have_examples():
    documented = {name.rsplit(".", 1)[-1] for name in EXAMPLES}
    assert {
        "LSTMLanguageModel", "BigLanguageModel", "WindowAttention", "MemorySlots",
        "MemoryBlock", "StatefulLSTMStack", "ByteTokenizer", "TopKSampler",
        "from_preset", "language_model_dataset", "copy", "associative_recall",
        "passkey", "selective_copy", "TextClassifier", "AttentionPooling",
        "SequenceRegressor", "load_series", "NeuralTuringMachine", "NTMCell",
        "Seq2SeqTranslator", "TokenAccuracy", "corpus_bleu", "evaluate",
        "AssociativeSlots", "multi_query_associative_recall", "long_range",
    } <= documented


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docstring_example_runs(name):
    namespace = {"np": np, "tf": tf, "keras": keras, "memzoo": memzoo}
    exec(compile(EXAMPLES[name], name, "exec"), namespace)
