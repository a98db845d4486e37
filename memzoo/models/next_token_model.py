"""What the models that predict the next token share: the language models
and the Neural Turing Machine.

They read token ids and give logits over the next token at every step,
carrying their state from call to call, so they train alike on a corpus or
on a memory task, are scored alike (bits per character, or the answer's
accuracy on a task) and are served with the same stateful signatures.
"""

import math
import threading

import keras
import numpy as np
import tensorflow as tf

from memzoo import data
from memzoo import probe
from memzoo.metrics import BitsPerCharacter
from memzoo.models import serving
from memzoo.models.zoo_model import TrainingData
from memzoo.models.zoo_model import ZooModel
from memzoo.validation import check_integer


class NextTokenModel(ZooModel):
    """Base class of the zoo's models of next-token logits `[batch, time,
    vocab_size]` with carried state: the protocol of `ZooModel` for them."""

    reports_perplexity = True
    supports_stateful_training = True

    def train_step(self, data):
        """Keras's step; on a batch of `memzoo.data.language_model_streams`,
        stateful: it starts from the state the previous step ended in (afresh
        where a row's `reset` is true) and keeps the state it ends in for the
        next step, the gradient stopped between them (truncated
        backpropagation through time)."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if not _is_stream_batch(x):
            return super().train_step(data)
        # Keras's step calls the model once; `__call__` takes the resets from
        # here (a thread's own: a mirrored strategy traces each replica in a
        # thread of its own).
        _STREAM.reset = x["reset"]
        try:
            return super().train_step((x["token_ids"], y, sample_weight))
        finally:
            _STREAM.reset = None

    def test_step(self, data):
        """Keras's step; a stream batch is scored window by window (from a
        fresh state), as `evaluate` scores any batch."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if _is_stream_batch(x):
            data = (x["token_ids"], y, sample_weight)
        return super().test_step(data)

    def __call__(self, *args, **kwargs):
        reset = getattr(_STREAM, "reset", None)
        if reset is None:
            return super().__call__(*args, **kwargs)
        _STREAM.reset = None
        token_ids = args[0] if args else kwargs["token_ids"]
        carried = self.carried_state
        if carried is None:
            raise ValueError(
                "The model carries no state for stream batches: it was not "
                "built from their spec (`fit` builds it)."
            )
        # The batch size is static (checked when the state was made), so
        # the fresh state is constants a model may read when tracing.
        fresh = self.get_initial_state(token_ids.shape[0])
        constant = self._constant_in_streams(token_ids.shape[1])
        state = {
            name: fresh[name] if name in constant else tf.where(
                _broadcast_rows(reset, fresh[name]), fresh[name],
                tf.cast(variable, fresh[name].dtype))
            for name, variable in carried.items()
        }
        logits, new_state = super().__call__(
            token_ids, initial_state=state, return_state=True,
            training=kwargs.get("training"),
        )
        for name, variable in carried.items():
            variable.assign(tf.cast(tf.stop_gradient(new_state[name]),
                                    variable.dtype))
        return logits

    def _constant_in_streams(self, length):
        """Names of state entries that windows of `length` tokens leave at
        their initial value: stateful training feeds them as constants."""
        return set()

    @property
    def carried_state(self):
        """The state stateful training carries from step to step: a dict of
        `tf.Variable`s of `get_initial_state(batch_size)`'s shapes, made when
        `fit` first sees stream batches, else `None`. The run's backup keeps
        it; the model's files do not (it belongs to the run, not the model)."""
        return self.__dict__.get("_carried_state")

    def carried_state_values(self):
        """The carried state as NumPy arrays of the whole batch's rows (under
        a distribution strategy, the replicas' rows one after the other, as
        the strategy splits a batch), or `None` before stateful training."""
        carried = self.carried_state
        if carried is None:
            return None
        strategy = self.distribute_strategy
        return {
            name: np.concatenate([
                np.asarray(value) for value in
                strategy.experimental_local_results(variable)])
            for name, variable in carried.items()
        }

    def assign_carried_state(self, values):
        """Sets the carried state from `carried_state_values()`'s arrays."""
        strategy = self.distribute_strategy
        for name, variable in self.carried_state.items():
            parts = strategy.experimental_local_results(variable)
            for part, value in zip(parts, np.split(values[name], len(parts))):
                part.assign(value)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        spec = data_batch
        if spec is None and iterator is not None:
            spec = iterator._distributed_dataset.element_spec
        x = spec[0] if isinstance(spec, tuple) else spec
        if _is_stream_batch(x):
            # Under a strategy, each replica's share of the batch.
            spec = tf.nest.map_structure(_replica_spec, spec)
            x = spec[0]
            self._make_carried_state(x["token_ids"].shape[0])
            spec = (x["token_ids"], *spec[1:])
            return super()._maybe_symbolic_build(data_batch=spec)
        return super()._maybe_symbolic_build(iterator, data_batch)

    def _make_carried_state(self, batch_size):
        if batch_size is None:
            raise ValueError(
                "Invalid value for argument `x`. Expected stream batches of a "
                "static batch size (`drop_remainder`), whose rows each carry "
                "a state. Received: batches of unknown size"
            )
        if not self.built:
            with self.distribute_strategy.scope():
                self.build((None, None))
        initial = self.get_initial_state(batch_size)
        carried = self.carried_state
        if carried is not None and all(
                tuple(carried[name].shape) == tuple(value.shape)
                for name, value in initial.items()):
            return
        # Plain TensorFlow variables, not Keras weights: the model's saved
        # files and `from_config` must not depend on a run's batch size.
        # Under a strategy each replica reads and writes a copy of its own
        # (`ON_READ`): the state of the rows it is given.
        with self.distribute_strategy.scope():
            self.__dict__["_carried_state"] = {
                name: tf.Variable(
                    value, trainable=False, name=f"carried_{name}",
                    synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                for name, value in initial.items()
            }

    @classmethod
    def training_data(cls, config, data_source, batch_size, sequence_length,
                      seed, validation_batches, data_dir=None, stateful=False,
                      stream_length=None):
        """A corpus or a memory task (see `memzoo.data.tasks.memory_task`).

        For a corpus, `language_model_dataset` windows of the `train`
        split, shuffled with `seed` and repeated (with `stateful`,
        `language_model_streams` of it, which `fit` trains on with the state
        carried), and the first `validation_batches` windows of the `test`
        split. For a memory task, its
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

        def streams(shuffle):
            return data.language_model_streams(
                data_source, sequence_length, batch_size, shuffle=shuffle,
                seed=seed, data_dir=data_dir, repeat=shuffle,
                stream_length=stream_length,
            )

        def count_pass():
            if stateful:
                one_pass = streams(shuffle=False)
            else:
                one_pass = data.language_model_dataset(
                    data_source, sequence_length, batch_size, shuffle=False,
                    data_dir=data_dir,
                )
            return sum(1 for _ in one_pass)

        return TrainingData(
            train=(streams(shuffle=True) if stateful
                   else split("train", shuffle=True)),
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
        else:
            # The same text read as one stream, the state carried through.
            ids = probe.held_out_ids(
                self, data_source, split,
                max_tokens=(None if max_batches is None
                            else max_batches * batch_size * sequence_length),
                data_dir=data_dir)
            scores["stream_bits_per_character"] = float(
                probe.stream_losses(self, ids).mean() / math.log(2))
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


_STREAM = threading.local()


def _is_stream_batch(x):
    return isinstance(x, dict) and set(x) == {"token_ids", "reset"}


def _replica_spec(spec):
    """A replica's spec of a distributed dataset's `PerReplicaSpec`."""
    value_specs = getattr(spec, "_value_specs", None)
    return value_specs[0] if value_specs else spec


def _broadcast_rows(reset, value):
    """`reset [batch]` shaped to broadcast over a state tensor's rows."""
    return tf.reshape(reset, [-1] + [1] * (len(value.shape) - 1))
