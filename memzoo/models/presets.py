"""Presets, keras-hub style: registered names and preset directories.

A registered preset is a model class, the config it is built with and a
description; each model family registers its presets from its own
`*_presets.py` file when its module is imported. A preset directory is what
`save_to_preset()` writes (`memzoo.models.preset_directory`): config,
weights, assets and a metadata.json with the sha256 of each, which
`from_preset()` checks before it reads anything else.

A registered preset is *shipped* when a preset directory of its name is in
`saved_models/` (the repository's, or `$MEMZOO_SAVED_MODELS`): then
`from_preset(name)` loads its trained weights.
"""

import inspect
import os
import sys

import keras

from memzoo.models.preset_directory import CONFIG_FILE
from memzoo.models.preset_directory import METADATA_FILE
from memzoo.models.preset_directory import WEIGHTS_FILE
from memzoo.models.preset_directory import check_files
from memzoo.models.preset_directory import read_config
from memzoo.models.preset_directory import read_json
from memzoo.models.preset_directory import write_preset

_PRESETS = {}
_CLASSES = {}

# Where the shipped presets are looked for first; a test may point it at a
# folder of its own.
SAVED_MODELS_ENV = "MEMZOO_SAVED_MODELS"


def saved_models_dir():
    """The folder of the shipped presets: `$MEMZOO_SAVED_MODELS`, else
    `saved_models/` beside the `memzoo` package (a source checkout or an
    editable install), else `<prefix>/share/memzoo/saved_models` (where
    `pip install` puts them).

    Example:

    ```python
    import memzoo.models.presets

    folder = memzoo.models.presets.saved_models_dir()   # .../saved_models
    ```
    """
    if os.environ.get(SAVED_MODELS_ENV):
        return os.environ[SAVED_MODELS_ENV]
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    beside = os.path.join(os.path.dirname(package), "saved_models")
    if os.path.isdir(beside):
        return beside
    return os.path.join(sys.prefix, "share", "memzoo", "saved_models")


def shipped_preset_dir(name):
    """The preset directory shipped for the registered preset `name`, or
    `None` when `saved_models/` has none.

    Example:

    ```python
    import memzoo.models.presets

    memzoo.models.presets.shipped_preset_dir("co2_lstm")     # .../saved_models/co2_lstm
    memzoo.models.presets.shipped_preset_dir("lstm_lm_tiny") # None: config only
    ```
    """
    path = os.path.join(saved_models_dir(), name)
    return path if is_preset_dir(path) else None


def register_presets(model_class, presets):
    """Adds `presets` (name -> dict with `config`, `description`, optionally
    `weights`, `data` and `sequence_length`) for a class.

    `weights` is the path of a preset directory of trained weights, which
    `from_preset(name)` then loads; without it, the preset directory of
    the same name in `saved_models_dir()` if there is one, else the preset
    is config only.
    """
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
    """The preset registered as `name`: a dict with `class_name`, `config`,
    `description`, `data`, `sequence_length` and `weights` (the preset
    directory of its trained weights, or `None`: config only)."""
    if name not in _PRESETS:
        raise ValueError(
            "Invalid value for argument `preset`. Expected one of "
            f"{list_presets()}. Received: preset={name!r}"
        )
    preset = dict(_PRESETS[name])
    preset["config"] = dict(preset["config"])
    if preset["weights"] is None:
        preset["weights"] = shipped_preset_dir(name)
    return preset


def is_preset_dir(path):
    """Whether `path` is a preset directory: a folder with config.json and
    metadata.json, as `save_to_preset()` writes."""
    return isinstance(path, (str, os.PathLike)) and all(
        os.path.isfile(os.path.join(path, name))
        for name in (CONFIG_FILE, METADATA_FILE)
    )


def preset_class(preset):
    """The model class that `preset`, a registered name or a preset
    directory, builds."""
    preset = _check_preset(preset)
    if preset in _PRESETS:
        return _CLASSES[_PRESETS[preset]["class_name"]]
    return _config_class(read_json(preset, CONFIG_FILE), preset)


class PresetMixin:
    """Gives a model class `from_preset()` and `save_to_preset()`,
    keras-hub style."""

    @classmethod
    def from_preset(cls, preset, load_weights=True, **overrides):
        """Builds the model of a preset; keyword arguments override its config.

        `preset` is a registered name (`memzoo.list_presets()`) or the path
        of a directory `save_to_preset()` wrote (a registered name wins over
        a folder of the same name; `./name` reaches the folder). A
        registered name that is shipped (`saved_models/<name>`, see
        `saved_models_dir()`) is that directory, trained weights and all;
        one that is not is its config, with fresh weights. A directory's files are checked against the sha256 its metadata.json
        lists before anything is read; the model is then built for the
        input shape it was saved with and, unless `load_weights=False`,
        given the saved weights. Called on a base class, it builds whichever
        subclass the preset names.

        Example:

        ```python
        import tempfile

        model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny", dropout=0.1)
        model(np.zeros((1, 8), "int32"))
        path = tempfile.mkdtemp() + "/lstm_lm_tiny_copy"
        model.save_to_preset(path)
        same = memzoo.LSTMLanguageModel.from_preset(path)
        ```
        """
        preset = _check_preset(preset)
        if preset in _PRESETS:
            registered = get_preset(preset)
            if registered["weights"] is None:
                model_class = cls._check_preset_class(preset,
                                                      preset_class(preset))
                return model_class(**{**registered["config"], **overrides})
            preset = _check_preset(registered["weights"])
        check_files(preset)
        config = read_config(preset)
        model_class = cls._check_preset_class(
            preset, _config_class(config, preset)
        )
        model = model_class.from_config({**config["config"], **overrides})
        model.build_from_config(config.get("build_config"))
        if not load_weights:
            return model
        weights = os.path.join(preset, WEIGHTS_FILE)
        if not os.path.isfile(weights):
            raise ValueError(
                f"Invalid value for argument `preset`. Expected {WEIGHTS_FILE}"
                " in the preset directory, or `load_weights=False`. Received: "
                f"preset={preset!r}, without it"
            )
        try:
            model.load_weights(weights)
        except ValueError as error:
            raise ValueError(
                f"The weights of preset {preset!r} do not fit the model built "
                f"with the overrides {overrides}: pass `load_weights=False`, or "
                f"only overrides that keep the weights' shapes. Keras: {error}"
            ) from error
        return model

    @classmethod
    def _check_preset_class(cls, preset, model_class):
        if not issubclass(model_class, cls):
            raise ValueError(
                f"Preset {preset!r} builds a {model_class.__name__}, not a "
                f"{cls.__name__}. Use {model_class.__name__}.from_preset(), or "
                f"one of {list_presets(cls)}."
            )
        return model_class

    def save_to_preset(self, preset_dir, metadata=None):
        """Writes the model as a preset directory that `from_preset()` loads.

        The directory holds config.json (the model as
        `keras.saving.serialize_keras_object` gives it, with the input shape
        it was built with), model.weights.h5, assets/vocabulary.txt when the
        model's `tokenizer` is a word vocabulary (one token per line), and
        metadata.json: the memzoo, Keras and TensorFlow versions, the class,
        the parameter count, the UTC date, `metadata` and the sha256 of
        every other file. It is written into a temporary folder beside
        `preset_dir`, then renamed into place.

        Args:
            preset_dir: str or path. A folder that does not exist yet, or
                an empty one: a preset is never overwritten.
            metadata: dict or `None`. What to keep with the preset (a
                training run's settings and metrics, say); JSON values only.

        Returns:
            The absolute path of `preset_dir`.

        Example:

        ```python
        import tempfile

        model = memzoo.SequenceRegressor(units=8, output_steps=2)
        model(np.zeros((1, 12, 3), "float32"))  # 3 features: saved too
        path = tempfile.mkdtemp() + "/forecaster"
        model.save_to_preset(path, metadata={"mae": 0.37})
        model = memzoo.SequenceRegressor.from_preset(path)
        ```
        """
        return write_preset(self, preset_dir, metadata)


def _check_preset(preset):
    """`preset` as a registered name or a preset directory's path, else a
    `ValueError` saying what a preset is."""
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if isinstance(preset, str) and (preset in _PRESETS or is_preset_dir(preset)):
        return preset
    received = f"preset={preset!r}"
    if isinstance(preset, str) and os.path.isdir(preset):
        missing = [name for name in (CONFIG_FILE, METADATA_FILE)
                   if not os.path.isfile(os.path.join(preset, name))]
        received += f", a directory without {' or '.join(missing)}"
    raise ValueError(
        f"Invalid value for argument `preset`. Expected one of "
        f"{list_presets()}, or the path of a preset directory (with "
        f"{CONFIG_FILE} and {METADATA_FILE}, as `save_to_preset()` writes). "
        f"Received: {received}"
    )


def _config_class(config, preset):
    """The registered memzoo model class a preset's config.json names."""
    name = config.get("registered_name") if isinstance(config, dict) else None
    model_class = keras.saving.get_registered_object(name) if name else None
    if not (inspect.isclass(model_class) and issubclass(model_class, PresetMixin)):
        raise ValueError(
            "Invalid value for argument `preset`. Expected a config.json of a "
            "memzoo model registered with Keras. Received: "
            f"preset={preset!r}, whose config.json names {name!r}"
        )
    return model_class
