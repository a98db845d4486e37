import datetime
import hashlib
import json
import os
import shutil
import stat

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo


def test_list_presets_names_the_registered_presets():
    names = memzoo.list_presets()
    assert names == sorted(names)
    assert {"lstm_lm_tiny", "lstm_lm_small"} <= set(names)
    assert memzoo.list_presets(memzoo.LSTMLanguageModel) == [
        "lstm_lm_python", "lstm_lm_shakespeare", "lstm_lm_small", "lstm_lm_tiny"
    ]


def test_from_preset_builds_the_configured_model():
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    config = memzoo.get_preset("lstm_lm_tiny")["config"]
    assert isinstance(model, memzoo.LSTMLanguageModel)
    for name, value in config.items():
        assert model.get_config()[name] == value


def test_from_preset_on_the_base_class_and_with_overrides():
    model = memzoo.LanguageModel.from_preset("lstm_lm_tiny", hidden_dim=8)
    assert isinstance(model, memzoo.LSTMLanguageModel)
    assert model.hidden_dim == 8
    # The registry is not changed by an override.
    assert memzoo.get_preset("lstm_lm_tiny")["config"]["hidden_dim"] == 64


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"`preset`. Expected one of \[.*'lstm_lm_tiny'.*Received: preset='nope'"):
        memzoo.LSTMLanguageModel.from_preset("nope")


def test_preset_of_another_class_is_refused():
    class OtherModel(memzoo.LanguageModel):
        pass

    with pytest.raises(ValueError, match="builds a LSTMLanguageModel, not a OtherModel"):
        OtherModel.from_preset("lstm_lm_tiny")


def test_bad_override_is_reported_by_the_model():
    with pytest.raises(ValueError, match="`hidden_dim`.*Received: hidden_dim=0"):
        memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny", hidden_dim=0)


# Tiny models of the two families whose presets the tests below take apart:
# one keeps a word vocabulary as an asset, one names its tokenizer in the
# config. Each family's own tests round-trip its preset directory
# (`tests.test_case.TestCase.run_preset_test`).
VOCABULARY = ["", "[UNK]", "good", "bad", "film", "plot"]
FAMILIES = {
    "lstm_language_model": (memzoo.LSTMLanguageModel, {
        "vocab_size": 259, "embedding_dim": 8, "hidden_dim": 8,
        "num_layers": 2, "tokenizer": "byte",
    }),
    "text_classifier": (memzoo.TextClassifier, {
        "vocab_size": 8, "embedding_dim": 4, "hidden_dim": 4,
        "num_classes": 3, "tokenizer": VOCABULARY,
    }),
}


def family_inputs(family):
    vocab_size = FAMILIES[family][1]["vocab_size"]
    ids = np.random.default_rng(0).integers(1, vocab_size, (2, 6)).astype("int32")
    ids[1, 4:] = 0
    return ids


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """`saved(family)`: a preset of the family's tiny model with random
    weights, written once, and what the model gave and held."""
    presets = {}

    def save(family):
        if family not in presets:
            model_class, config = FAMILIES[family]
            model = model_class(**config)
            inputs = family_inputs(family)
            model(inputs)
            rng = np.random.default_rng(1)
            model.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype)
                               for w in model.get_weights()])
            path = tmp_path_factory.mktemp("presets") / family
            model.save_to_preset(path, metadata={"run": {"steps": 3}})
            presets[family] = {
                "path": str(path), "inputs": inputs,
                "outputs": np.asarray(model(inputs)),
                "parameter_count": model.count_params(),
            }
        return presets[family]

    return save


def test_the_preset_directory_and_its_metadata(saved):
    preset = saved("text_classifier")
    path = preset["path"]
    assert sorted(os.listdir(os.path.dirname(path))) == ["text_classifier"]
    files = {"config.json", "model.weights.h5", "assets/vocabulary.txt"}
    with open(os.path.join(path, "metadata.json"), encoding="utf-8") as f:
        metadata = json.load(f)
    assert metadata["files"] == {
        name: hashlib.sha256(open(os.path.join(path, name), "rb").read()).hexdigest()
        for name in files
    }
    assert metadata["memzoo_version"] == memzoo.__version__
    assert metadata["keras_version"] == keras.version()
    assert metadata["tensorflow_version"] == tf.__version__
    assert metadata["class_name"] == "TextClassifier"
    assert metadata["parameter_count"] == preset["parameter_count"]
    assert metadata["metadata"] == {"run": {"steps": 3}}
    assert datetime.datetime.strptime(metadata["date_saved"], "%Y-%m-%dT%H:%M:%SZ")
    # The vocabulary is an asset, one token per line, not in the config.
    with open(os.path.join(path, "assets", "vocabulary.txt"), encoding="utf-8") as f:
        assert f.read() == "\n".join(VOCABULARY) + "\n"
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["registered_name"] == "memzoo>TextClassifier"
    assert config["config"]["tokenizer"] == {"vocabulary_file": "assets/vocabulary.txt"}
    assert config["build_config"] == {"input_shape": [2, 6]}
    assert "compile_config" not in config
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777 & ~umask
    for name in files | {"metadata.json"}:
        assert stat.S_IMODE(os.stat(os.path.join(path, name)).st_mode) == 0o666 & ~umask


def test_a_named_tokenizer_stays_in_the_config(saved):
    path = saved("lstm_language_model")["path"]
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["config"]["tokenizer"] == "byte"
    assert not os.path.exists(os.path.join(path, "assets"))


def _tamper(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 1
        f.seek(0)
        f.write(data)


def _write(path, name, text):
    with open(os.path.join(path, name), "w", encoding="utf-8") as f:
        f.write(text)


DAMAGES = {
    "tampered_weights": (
        lambda path: _tamper(path, "model.weights.h5"),
        r"model.weights.h5 of sha256 [0-9a-f]{64}, as metadata.json lists. "
        r"Received: preset='.*', whose model.weights.h5 has sha256",
    ),
    # Refused for its sha256, not for the JSON it no longer is: the files
    # are checked before any is read.
    "garbled_config": (
        lambda path: _write(path, "config.json", "{"),
        r"config.json of sha256 .*whose config.json has sha256",
    ),
    "missing_weights": (
        lambda path: os.remove(os.path.join(path, "model.weights.h5")),
        r"every file metadata.json lists .*Received: preset='.*', "
        r"without model.weights.h5",
    ),
    "missing_vocabulary": (
        lambda path: os.remove(os.path.join(path, "assets", "vocabulary.txt")),
        r"every file .*, without assets/vocabulary.txt",
    ),
    "unlisted_asset": (
        lambda path: _write(path, "assets/merges.txt", "a b\n"),
        r"only the files metadata.json lists .*Received: "
        r"preset='.*', with assets/merges.txt besides",
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_preset_is_refused_before_loading(saved, tmp_path, damage):
    path = str(tmp_path / "preset")
    shutil.copytree(saved("text_classifier")["path"], path)
    change, message = DAMAGES[damage]
    change(path)
    with pytest.raises(ValueError, match=r"`preset`. Expected " + message):
        memzoo.TextClassifier.from_preset(path)


def test_a_model_card_beside_the_files_is_not_checked(saved, tmp_path):
    path = str(tmp_path / "preset")
    shutil.copytree(saved("lstm_language_model")["path"], path)
    _write(path, "README.md", "# A model card\n")
    memzoo.LSTMLanguageModel.from_preset(path)


@pytest.mark.parametrize("preset, received", [
    ("nope", "preset='nope'"),
    (123, "preset=123"),
    ("empty", "preset='.*empty', a directory without config.json or metadata.json"),
    ("no_config", "preset='.*no_config', a directory without config.json$"),
])
def test_a_bogus_preset_is_refused(tmp_path, preset, received):
    if preset in ("empty", "no_config"):
        preset = tmp_path / preset
        preset.mkdir()
        if preset.name == "no_config":
            _write(preset, "metadata.json", "{}")
    with pytest.raises(ValueError, match=r"`preset`. Expected one of \[.*'lstm_lm_tiny'.*\], or the path of a preset directory .*Received: " + received):
        memzoo.LSTMLanguageModel.from_preset(preset)
    assert not memzoo.models.presets.is_preset_dir(preset)


def test_an_existing_preset_is_not_overwritten(tmp_path):
    model = memzoo.LSTMLanguageModel(**FAMILIES["lstm_language_model"][1])
    model(family_inputs("lstm_language_model"))
    (tmp_path / "empty").mkdir()
    model.save_to_preset(tmp_path / "empty")
    for path, what in [("empty", "a folder that is not empty"),
                       ("empty/config.json", "a file")]:
        with pytest.raises(ValueError, match=rf"`preset_dir`. Expected a folder that does not exist yet, or an empty one.*Received: preset_dir='.*{path}', {what}"):
            model.save_to_preset(tmp_path / path)
    assert sorted(os.listdir(tmp_path)) == ["empty"]


def test_an_unbuilt_model_or_bad_metadata_is_refused(tmp_path):
    model = memzoo.LSTMLanguageModel(**FAMILIES["lstm_language_model"][1])
    with pytest.raises(ValueError, match="not built yet"):
        model.save_to_preset(tmp_path / "unbuilt")
    model(family_inputs("lstm_language_model"))
    with pytest.raises(ValueError, match=r"`metadata`. Expected a dict of JSON values. Received: metadata=\{'model': <"):
        model.save_to_preset(tmp_path / "bad", metadata={"model": model})
    assert os.listdir(tmp_path) == []


def test_overrides_apply_and_weights_that_no_longer_fit_are_refused(saved):
    preset = saved("lstm_language_model")
    model = memzoo.LSTMLanguageModel.from_preset(preset["path"], dropout=0.5)
    assert model.dropout == 0.5
    np.testing.assert_array_equal(model(preset["inputs"]), preset["outputs"])
    with pytest.raises(ValueError, match=r"weights of preset '.*lstm_language_model' do not fit the model built with the overrides \{'hidden_dim': 16\}"):
        memzoo.LSTMLanguageModel.from_preset(preset["path"], hidden_dim=16)
    model = memzoo.LSTMLanguageModel.from_preset(
        preset["path"], load_weights=False, hidden_dim=16)
    assert model.hidden_dim == 16


def test_a_preset_directory_builds_its_own_class(saved):
    path = saved("lstm_language_model")["path"]
    assert memzoo.models.presets.is_preset_dir(path)
    assert memzoo.models.presets.preset_class(path) is memzoo.LSTMLanguageModel
    assert isinstance(memzoo.LanguageModel.from_preset(path), memzoo.LSTMLanguageModel)
    with pytest.raises(ValueError, match="builds a LSTMLanguageModel, not a TextClassifier"):
        memzoo.TextClassifier.from_preset(path)


def test_a_registered_preset_may_ship_a_preset_directory(saved, monkeypatch):
    preset = saved("lstm_language_model")
    monkeypatch.setitem(memzoo.models.presets._PRESETS, "lstm_lm_shipped", {
        **memzoo.get_preset("lstm_lm_tiny"), "weights": preset["path"],
    })
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_shipped")
    np.testing.assert_array_equal(model(preset["inputs"]), preset["outputs"])


def test_readme_preset_example_runs(tmp_path, monkeypatch):
    from tests.test_readme import readme_block

    monkeypatch.chdir(tmp_path)
    exec(readme_block("python", "save_to_preset"), {})
    assert memzoo.models.presets.is_preset_dir(tmp_path / "presets" / "my_lm")
