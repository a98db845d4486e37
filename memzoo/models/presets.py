"""The preset registry: named configurations of the zoo's models.

A preset is a model class, the config it is built with, a description and,
where trained, a weights file. Each model family registers its presets from its
own `*_presets.py` file when its module is imported.
"""

_PRESETS = {}
_CLASSES = {}


def register_presets(model_class, presets):
    """Adds `presets` (name -> dict with `config`, `description`, optionally
    `weights`, `data` and `sequence_length`) for a class."""
    _CLASSES[model_class.__name__] = model_class
    for name, preset in presets.items():
        if name in _PRESETS:
            raise ValueError(f"Preset {name!r} is registered twice.")
        _PRESETS[name] = {
            "class_name": model_class.__name__,
            "description": preset["description"],
            "config": dict(preset["config"]),
            "weights": preset.get("weights"),
            # The data `memzoo train` fits it on unless told otherwise, and
            # the length of its examples (a regressor's window, say).
            "data": preset.get("data"),
            "sequence_length": preset.get("sequence_length"),
        }


def list_presets(model_class=None):
    """Names of the registered presets, optionally only those of one class."""
    return sorted(
        name
        for name, preset in _PRESETS.items()
        if model_class is None
        or issubclass(_CLASSES[preset["class_name"]], model_class)
    )


def get_preset(name):
    """The preset registered as `name`: a dict with `class_name`, `config`, ..."""
    if name not in _PRESETS:
        raise ValueError(
            "Invalid value for argument `preset`. Expected one of "
            f"{list_presets()}. Received: preset={name!r}"
        )
    preset = dict(_PRESETS[name])
    preset["config"] = dict(preset["config"])
    return preset


def preset_class(name):
    """The model class that the preset `name` builds."""
    return _CLASSES[get_preset(name)["class_name"]]


class PresetMixin:
    """Gives a model class `from_preset(name, **overrides)`, keras-hub style."""

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Builds the model of a preset; keyword arguments override its config.

        Called on a base class, it builds whichever subclass the preset names.

        Example:

        ```python
        model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny", dropout=0.1)
        ```
        """
        model_class = preset_class(preset)
        if not issubclass(model_class, cls):
            raise ValueError(
                f"Preset {preset!r} builds a {model_class.__name__}, not a "
                f"{cls.__name__}. Use {model_class.__name__}.from_preset(), or "
                f"one of {list_presets(cls)}."
            )
        config = get_preset(preset)["config"]
        config.update(overrides)
        return model_class(**config)
