"""The NeuralTuringMachine family: the model and its presets."""

from memzoo.models.neural_turing_machine.neural_turing_machine import NeuralTuringMachine
