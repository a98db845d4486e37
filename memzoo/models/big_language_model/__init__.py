"""The BigLanguageModel family: the model and its presets."""

from memzoo.models.big_language_model.big_language_model import BigLanguageModel
