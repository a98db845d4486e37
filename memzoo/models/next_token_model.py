"""What the models that predict the next token share: the language models
and the Neural Turing Machine.

They read token ids and give logits over the next token at every step,
carrying their state from call to call, so they train alike on a corpus or
on a memory task, are scored alike (bits per character, or the answer's
accuracy on a task) and are served with the same stateful signatures.
"""

import math

import keras
import numpy as np

from memzoo import data
from memzoo.metrics import BitsPerCharacter
from memzoo.models import serving
from memzoo.models.zoo_model import TrainingData
from memzoo.models.zoo_model import ZooModel
from memzoo.validation import check_integer


class NextTokenModel(ZooModel):
    """Base class of the zoo's models of next-token logits `[batch, time,
    vocab_size]` with carried state: the protocol of `ZooModel` for them."""

    reports_perplexity = True

    @classmethod
    def training_data(cls, config, data_source, batch_size, sequence_length,
                      seed, validation_batches, data_dir=None):
        """A corpus or a memory task (see `memzoo.data.tasks.memory_task`).

        For a corpus, `language_model_dataset` windows of the `train`
        split, shuffled with `seed` and repeated, and the first
        `validation_batches` of the `test` split. For a memory task, its
        stream for `seed` and `validation_batches` of examples drawn with
        `seed + 1`; the task sets the sequence length, and the scores count
        its answer only.
        """
        task = data.tasks.memory_task(data_source)
        if task is not None:
            function, arguments = task
            return TrainingData(
                train=function(batch_size, seed=seed, **arguments),
                validation=function(batch_size, seed=seed + 1,
                                    num_batches=validation_batches, **arguments),
                answer_only=True,
            )

        def split(name, shuffle):
            return data.language_model_dataset(
                data_source, sequence_length, batch_size, split=name,
                shuffle=shuffle, seed=seed, data_dir=data_dir, repeat=shuffle,
            )

        def count_pass():
            one_pass = data.language_model_dataset(
                data_source, sequence_length, batch_size, shuffle=False,
                data_dir=data_dir,
            )
            return sum(1 for _ in one_pass)

        return TrainingData(
            train=split("train", shuffle=True),
            validation=split("test", shuffle=False).take(validation_batches),
            count_pass=count_pass,
        )

    def compile_arguments(self, answer_only=False):
        """With `answer_only`, a loss, accuracy and bits per character that
        are means over the tokens the batches' `sample_weight` marks (a
        memory task's answer), or over every token without weights."""
        if not answer_only:
            return {}
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

    def evaluate_held_out(self, data_source, split="test", batch_size=32,
                          sequence_length=None, max_batches=None,
                          data_dir=None, baselines=False, beam_size=1,
                          seed=None):
        """Bits per character and perplexity on a corpus (`None`: the
        default one), with the unigram baseline; or on a memory task the
        answer's accuracy (50 batches unless `max_batches`), with chance."""
        task = data.tasks.memory_task(data_source)
        sequence_length = sequence_length or self.default_sequence_length
        if task is not None:
            function, arguments = task
            dataset = function(batch_size, seed=seed,
                               num_batches=max_batches or 50, **arguments)
        else:
            if data_source is None:
                data_source, _ = data.default_corpus_files()
            dataset = data.language_model_dataset(
                data_source,
                check_integer("sequence_length", sequence_length, minimum=2),
                batch_size, split=split, shuffle=False, data_dir=data_dir,
            )
            if max_batches is not None:
                dataset = dataset.take(max_batches)
        dataset = data.finite_dataset(dataset, split)
        # Without weights (a corpus) the scores are over every token.
        self.compile(jit_compile=False, **self.compile_arguments(answer_only=True))
        results = self.evaluate(dataset, verbose=0, return_dict=True)
        scores = {
            "loss": results["loss"],
            "bits_per_character": results["bits_per_character"],
            "perplexity": math.exp(results["loss"]),
        }
        if task is not None:
            scores["accuracy"] = results["accuracy"]
        if baselines and task is not None:
            name = data_source.partition(":")[0]
            scores["baseline_chance_accuracy"] = data.tasks.chance_accuracy(
                name, **task[1]
            )
        elif baselines:
            scores["baseline_unigram_bits_per_character"] = (
                unigram_bits_per_character(data_source, split, sequence_length,
                                           data_dir)
            )
        return scores

    def add_serving_endpoints(self, archive, limits, tokenizer=None):
        """`serving_default` and `predict` (`token_ids` -> `logits`),
        `initial_state` and `step` (see `memzoo.export`)."""
        return serving.add_stateful_endpoints(archive, self, limits,
                                              predict_alias=True)


def unigram_bits_per_character(data_source=None, split="test",
                               sequence_length=128, data_dir=None):
    """The baseline a language model must beat: bits per character of token
    frequencies counted on the `train` split, scored on `split`.

    Counts are add-one smoothed, so an unseen token costs bits, not infinity.
    """
    if data_source is None:
        data_source, _ = data.default_corpus_files()

    def counts(which):
        dataset = data.language_model_dataset(
            data_source, sequence_length, 1, split=which, shuffle=False,
            data_dir=data_dir,
        )
        total = np.zeros(data.ByteTokenizer.vocabulary_size, np.int64)
        for _, targets in dataset.rebatch(1024):
            total += np.bincount(targets.numpy().ravel(), minlength=total.size)
        return total

    train_counts = counts("train") + 1
    probabilities = train_counts / train_counts.sum()
    test_counts = counts(split)
    return float(-(test_counts * np.log2(probabilities)).sum() / test_counts.sum())
