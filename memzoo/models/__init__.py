"""The zoo: one folder per model family (the model, its presets and what
only it knows), each registering its presets when imported."""

from memzoo.models.big_language_model import BigLanguageModel
from memzoo.models.language_model import LanguageModel
from memzoo.models.lstm_language_model import LSTMLanguageModel
from memzoo.models.neural_turing_machine import NeuralTuringMachine
from memzoo.models.seq2seq_translator import Seq2SeqTranslator
from memzoo.models.sequence_regressor import SequenceRegressor
from memzoo.models.text_classifier import TextClassifier
