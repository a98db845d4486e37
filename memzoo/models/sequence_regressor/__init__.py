"""The SequenceRegressor family: the model and its presets."""

from memzoo.models.sequence_regressor.sequence_regressor import SequenceRegressor
