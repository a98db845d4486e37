"""memzoo: a Keras 3 model zoo of memory-augmented sequence models."""

from memzoo import data
from memzoo import generation
from memzoo import layers
from memzoo import metrics
from memzoo import optimizers
from memzoo.models import BigLanguageModel
from memzoo.models import LanguageModel
from memzoo.models import LSTMLanguageModel
from memzoo.models import NeuralTuringMachine
from memzoo.models import Seq2SeqTranslator
from memzoo.models import SequenceRegressor
from memzoo.models import TextClassifier
from memzoo.models.presets import get_preset
from memzoo.models.presets import list_presets
from memzoo.export import export_saved_model
from memzoo.version import __version__
