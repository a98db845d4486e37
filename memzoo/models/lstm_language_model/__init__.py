"""The LSTMLanguageModel family: the model and its presets."""

from memzoo.models.lstm_language_model.lstm_language_model import LSTMLanguageModel
