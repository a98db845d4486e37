"""How a `TextClassifier` reads labelled texts, and what it is scored on."""

import collections

import keras
import numpy as np

from memzoo import data
from memzoo.models.zoo_model import VALIDATION_SPLIT
from memzoo.models.zoo_model import TrainingData


def training_data(model_class, config, data_source, batch_size,
                  sequence_length, seed, validation_batches, data_dir=None):
    """`classification_dataset` batches of `data_source`, cut to
    `sequence_length` tokens with the config's tokenizer (bytes, or a word
    vocabulary); without one, a word vocabulary of `vocab_size` is adapted
    on the source and becomes the model's `tokenizer`. It validates on the
    `VALIDATION_SPLIT` of the training split it does not train on."""
    if isinstance(data_source, str):
        # Only the labelled tfds sources say their classes up front.
        import tensorflow_datasets as tfds

        builder = tfds.builder(data_source,
                               data_dir=data_dir or data.default_data_dir())
        label = builder.info.features[builder.info.supervised_keys[1]]
        if label.num_classes != config["num_classes"]:
            raise ValueError(
                f"Invalid value for argument `data`: {data_source!r} has "
                f"{label.num_classes} classes, the model "
                f"{config['num_classes']}. Use a preset with "
                f"num_classes={label.num_classes}, or other data."
            )
    tokenizer, overrides = config.get("tokenizer"), {}
    if isinstance(tokenizer, list):
        # The model's own word vocabulary.
        tokenizer = keras.layers.TextVectorization(vocabulary=tokenizer)
    elif tokenizer is None:
        tokenizer = data.word_vectorizer(
            data_source, max_tokens=config["vocab_size"], data_dir=data_dir
        )
        overrides = {"tokenizer": tokenizer.get_vocabulary()}

    def part(subset, shuffle):
        return data.classification_dataset(
            data_source, batch_size, tokenizer=tokenizer, split="train",
            max_length=sequence_length, shuffle=shuffle, seed=seed,
            data_dir=data_dir, validation_split=VALIDATION_SPLIT,
            subset=subset,
        )

    train_pass = part("training", True)
    return TrainingData(
        train=train_pass.repeat(),
        validation=part("validation", False).take(validation_batches),
        count_pass=lambda: sum(1 for _ in train_pass),
        config=overrides,
    )


def evaluate_held_out(model, data_source, split="test", batch_size=32,
                      sequence_length=None, max_batches=None, data_dir=None,
                      baselines=False, beam_size=1, seed=None):
    """Loss and accuracy, and with `baselines` the accuracy of always
    guessing the training split's most frequent class."""
    model._require_data(data_source)
    tokenizer = model.text_vectorization or model.tokenizer
    if tokenizer is None:
        raise ValueError(
            "Invalid value for argument `model`. Expected a TextClassifier "
            "with a tokenizer (bytes or a word vocabulary), as `memzoo train` "
            "makes them. Received: a model with tokenizer=None"
        )
    dataset = data.classification_dataset(
        data_source, batch_size, tokenizer=tokenizer, split=split,
        max_length=sequence_length, shuffle=False, data_dir=data_dir,
    )
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = data.finite_dataset(dataset, split)
    model.compile(jit_compile=False)
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    scores = {"loss": results["loss"], "accuracy": results["accuracy"]}
    if baselines:
        counts = collections.Counter()
        pairs = data.supervised_dataset(data_source, "train", data_dir)
        for _, labels in pairs.batch(4096):
            counts.update(labels.numpy().tolist())
        majority = counts.most_common(1)[0][0]
        labels = np.concatenate([y.numpy() for _, y in dataset])
        scores["baseline_majority_class_accuracy"] = float(
            np.mean(labels == majority)
        )
    return scores
