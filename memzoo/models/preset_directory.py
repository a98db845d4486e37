"""Preset directories: writing one, and checking one before it is read.

A preset directory holds the model's config (`config.json`), its weights
(`model.weights.h5`), its assets (`assets/vocabulary.txt`, a word
vocabulary, or `assets/sentence_piece.model`, a subword model) and `metadata.json`, which records, besides the versions and the
caller's notes, the sha256 of every other file. `memzoo.models.presets`
builds `save_to_preset()` and `from_preset()` on these functions.
"""

import base64
import datetime
import hashlib
import json
import os
import secrets
import shutil

import keras
import tensorflow as tf

from memzoo.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
ASSETS_DIR = "assets"
VOCABULARY_FILE = f"{ASSETS_DIR}/vocabulary.txt"
SENTENCE_PIECE_FILE = f"{ASSETS_DIR}/sentence_piece.model"


def write_preset(model, preset_dir, metadata=None):
    """Writes `model` into the new folder `preset_dir`, atomically.

    The files are written into a temporary folder beside `preset_dir`,
    which is then renamed into place; an existing folder that is not empty
    is refused. See `PresetMixin.save_to_preset()`.
    """
    if not isinstance(preset_dir, (str, os.PathLike)):
        raise ValueError(
            "Invalid value for argument `preset_dir`. Expected a path. "
            f"Received: preset_dir={preset_dir!r}"
        )
    preset_dir = os.path.abspath(os.fspath(preset_dir))
    _check_new_folder(preset_dir)
    try:
        # A copy, and a check that it can be written.
        metadata = json.loads(json.dumps({} if metadata is None else metadata))
    except (TypeError, ValueError) as error:
        raise ValueError(
            "Invalid value for argument `metadata`. Expected a dict of JSON "
            f"values. Received: metadata={metadata!r} ({error})"
        ) from error
    if not isinstance(metadata, dict):
        raise ValueError(
            "Invalid value for argument `metadata`. Expected a dict. "
            f"Received: metadata={metadata!r}"
        )
    if not model.built:
        raise ValueError(
            f"This {type(model).__name__} is not built yet, so it has no "
            "weights to save. Call it on a batch, or `build()` it with its "
            "input shape, before `save_to_preset()`."
        )
    config = keras.saving.serialize_keras_object(model)
    # A preset holds a model, not a training run (its optimizer state is not
    # saved), so not how it was compiled either, as in keras-hub.
    config.pop("compile_config", None)

    parent = os.path.dirname(preset_dir)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(
        parent, f".{os.path.basename(preset_dir)}.tmp-{secrets.token_hex(4)}"
    )
    # `os.mkdir` gives the umask's ordinary permissions, unlike
    # `tempfile.mkdtemp`'s private 0o700, which the rename would keep.
    os.mkdir(staging)
    try:
        config["config"] = _write_assets(staging, config["config"])
        _write_json(staging, CONFIG_FILE, config)
        _save_weights_alone(model, os.path.join(staging, WEIGHTS_FILE))
        files = {name: _sha256(os.path.join(staging, name))
                 for name in _model_files(staging)}
        _write_json(staging, METADATA_FILE, {
            "memzoo_version": __version__,
            "keras_version": keras.version(),
            "tensorflow_version": tf.__version__,
            "class_name": type(model).__name__,
            "parameter_count": model.count_params(),
            "date_saved": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "metadata": metadata,
            "files": files,
        })
        try:
            # Replaces an empty folder; one filled meanwhile is refused.
            os.rename(staging, preset_dir)
        except OSError:
            _check_new_folder(preset_dir)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return preset_dir


def _save_weights_alone(model, path):
    """Writes `model`'s weights without its optimizer's state.

    A compiled model's `save_weights()` writes the optimizer's variables too
    (Adam's two moments: twice the weights again), which a preset does not
    hold; a copy built from the model's config, given its weights, has
    none to write.
    """
    if getattr(model, "optimizer", None) is None:
        model.save_weights(path)
        return
    bare = type(model).from_config(model.get_config())
    bare.build_from_config(model.get_build_config())
    bare.set_weights(model.get_weights())
    bare.save_weights(path)


def check_files(preset):
    """Checks the files of the preset directory `preset` against its
    metadata.json, reading nothing else first.

    Every file loading may read (config.json, the weights, the assets) must
    be listed there, and every listed file must be there with the sha256
    listed; other files, such as a model card, are never read.
    """
    metadata = read_json(preset, METADATA_FILE)
    files = metadata.get("files") if isinstance(metadata, dict) else None
    listed = sorted(files) if isinstance(files, dict) else []

    def refuse(expected, received):
        raise ValueError(
            f"Invalid value for argument `preset`. Expected {expected}. "
            f"Received: preset={preset!r}, {received}"
        )

    if not listed:
        refuse("a metadata.json that lists the preset's files with their "
               "sha256", "whose metadata.json lists none")
    for name in listed:
        if not os.path.isfile(path_in(preset, name)):
            refuse(f"every file metadata.json lists ({', '.join(listed)})",
                   f"without {name}")
    for name in _model_files(preset):
        if name not in files:
            refuse(f"only the files metadata.json lists ({', '.join(listed)})",
                   f"with {name} besides")
    for name in listed:
        digest = _sha256(path_in(preset, name))
        if digest != files[name]:
            refuse(f"{name} of sha256 {files[name]}, as metadata.json lists",
                   f"whose {name} has sha256 {digest}: it was changed or "
                   "damaged after it was saved")


def read_config(preset):
    """config.json of a preset directory, with its assets read back into
    the model's config."""
    config = read_json(preset, CONFIG_FILE)
    if not (isinstance(config, dict) and isinstance(config.get("config"), dict)):
        raise ValueError(
            "Invalid value for argument `preset`. Expected a config.json as "
            "`keras.saving.serialize_keras_object` writes a model. Received: "
            f"preset={preset!r}, whose config.json has no `config`"
        )
    model_config = dict(config["config"])
    tokenizer = model_config.get("tokenizer")
    if isinstance(tokenizer, dict) and "vocabulary_file" in tokenizer:
        path = path_in(preset, tokenizer["vocabulary_file"])
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        # One token per line, the first the padding "": the last line break
        # ends the last token rather than starting another.
        model_config["tokenizer"] = text.removesuffix("\n").split("\n")
    if isinstance(tokenizer, dict) and "sentence_piece_file" in tokenizer:
        with open(path_in(preset, tokenizer["sentence_piece_file"]), "rb") as f:
            proto = f.read()
        model_config["tokenizer"] = {
            "sentence_piece": base64.b64encode(proto).decode("ascii")
        }
    return {**config, "config": model_config}


def read_json(preset, name):
    try:
        with open(os.path.join(preset, name), encoding="utf-8") as f:
            return json.load(f)
    except ValueError as error:
        raise ValueError(
            f"Invalid value for argument `preset`. Expected a {name} of JSON. "
            f"Received: preset={preset!r}, whose {name} is not ({error})"
        ) from error


def path_in(preset, name):
    """The path of `name`, as metadata.json or config.json gives it, inside
    the preset directory; a name reaching outside it is refused."""
    path = os.path.normpath(os.path.join(preset, name))
    if os.path.isabs(name) or os.path.relpath(path, preset).startswith(os.pardir):
        raise ValueError(
            "Invalid value for argument `preset`. Expected file names inside "
            f"the preset directory. Received: preset={preset!r}, naming {name!r}"
        )
    return path


def _check_new_folder(preset_dir):
    if os.path.isdir(preset_dir) and not os.listdir(preset_dir):
        return
    if os.path.exists(preset_dir):
        what = ("a folder that is not empty" if os.path.isdir(preset_dir)
                else "a file")
        raise ValueError(
            "Invalid value for argument `preset_dir`. Expected a folder that "
            "does not exist yet, or an empty one: a preset is never "
            f"overwritten. Received: preset_dir={preset_dir!r}, {what}"
        )


def _write_assets(folder, model_config):
    """Moves a word vocabulary or a SentencePiece model out of the model's
    config into `assets/`."""
    vocabulary = model_config.get("tokenizer")
    if isinstance(vocabulary, dict) and "sentence_piece" in vocabulary:
        os.mkdir(os.path.join(folder, ASSETS_DIR))
        with open(os.path.join(folder, SENTENCE_PIECE_FILE), "wb") as f:
            f.write(base64.b64decode(vocabulary["sentence_piece"]))
        return {**model_config,
                "tokenizer": {"sentence_piece_file": SENTENCE_PIECE_FILE}}
    if not isinstance(vocabulary, (list, tuple)):
        return model_config
    broken = [token for token in vocabulary if "\n" in token]
    if broken:
        raise ValueError(
            "Invalid value for argument `tokenizer`. Expected tokens without "
            f"line breaks, to be saved one per line. Received: {broken[:3]}"
        )
    os.mkdir(os.path.join(folder, ASSETS_DIR))
    with open(os.path.join(folder, VOCABULARY_FILE), "w", encoding="utf-8",
              newline="") as f:
        f.writelines(f"{token}\n" for token in vocabulary)
    return {**model_config, "tokenizer": {"vocabulary_file": VOCABULARY_FILE}}


def _model_files(preset_dir):
    """The files of a preset directory that loading reads, relative and
    with `/` separators."""
    names = [name for name in (CONFIG_FILE, WEIGHTS_FILE)
             if os.path.isfile(os.path.join(preset_dir, name))]
    for folder, _, file_names in os.walk(os.path.join(preset_dir, ASSETS_DIR)):
        for file_name in file_names:
            path = os.path.relpath(os.path.join(folder, file_name), preset_dir)
            names.append(path.replace(os.sep, "/"))
    return sorted(names)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(folder, name, content):
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
        f.write("\n")
