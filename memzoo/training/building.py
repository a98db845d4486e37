"""The model a run trains, and the models the commands load."""

import inspect
import os

import keras

from memzoo.models.presets import get_preset
from memzoo.models.presets import is_preset_dir
from memzoo.models.presets import list_presets
from memzoo.models.presets import preset_class
from memzoo.models.zoo_model import ZooModel


def trainable_class(preset):
    """The class of `preset`, if `train` can fit it (its family says how it
    reads its data: `training_data()`), else a `ValueError`."""
    model_class = preset_class(preset)
    if model_class.training_data.__func__ is ZooModel.training_data.__func__:
        raise ValueError(
            "Invalid value for argument `preset`. Expected a preset of a "
            "model that says how it is trained (`training_data()`). "
            f"Received: preset={preset!r}, a {model_class.__name__}"
        )
    return model_class


def build_model(preset, overrides=None):
    """The preset's model with `overrides` applied to its config: a
    registered preset with fresh weights (shipped or not), a preset
    directory with its own.

    Raises a `ValueError` naming the option when the model has no such
    setting (an LSTM language model has no working memory, say), or when
    the preset's model cannot be trained.
    """
    model_class = trainable_class(preset)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = get_preset(preset)["config"].keys() | set(
        inspect.signature(model_class.__init__).parameters
    )
    for name in overrides:
        if name not in known:
            raise ValueError(
                f"Invalid value for argument `{name}`: preset {preset!r} builds "
                f"a {model_class.__name__}, which has no `{name}`."
            )
    if preset in list_presets():
        # Fresh weights, shipped or not: the command on a shipped preset's
        # card trains it again rather than further.
        return model_class(**{**get_preset(preset)["config"], **overrides})
    return model_class.from_preset(preset, **overrides)


def load_model(identifier, generates=False):
    """A zoo model from a `.keras` file, a preset directory (with its
    weights) or a registered preset (untrained) by name.

    `generates`: it must be a language model, with `generate()`.
    """
    kind = "language model" if generates else "model"
    if os.path.isfile(identifier):
        try:
            model = keras.saving.load_model(identifier)
        except Exception as error:  # Keras raises many kinds for a bad file.
            raise ValueError(
                f"Invalid value for argument `model`: {identifier} is not a "
                f"memzoo model file ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''})."
            ) from error
    elif is_preset_dir(identifier):
        # Its own errors (a file whose sha256 does not match) say more.
        model = ZooModel.from_preset(identifier)
    else:
        try:
            model = ZooModel.from_preset(identifier)
        except ValueError:
            raise ValueError(
                "Invalid value for argument `model`. Expected a .keras file "
                "written by `memzoo train` or a preset name or directory. "
                "Received: "
                f"{identifier!r}, which is neither."
            ) from None
    if not isinstance(model, ZooModel) or (
        generates and not callable(getattr(model, "generate", None))
    ):
        raise ValueError(
            f"Invalid value for argument `model`: {identifier} holds a "
            f"{type(model).__name__}, not a memzoo {kind}."
        )
    return model
