"""The TextClassifier family: the model and its presets."""

from memzoo.models.text_classifier.text_classifier import TextClassifier
