"""Shipping a trained preset (`memzoo.shipping`), and the presets shipped in
saved_models/: they load offline, reproduce their cards' scores, and are
refused when a byte of them changed."""

import json
import os
import re
import shutil

import h5py
import numpy as np
import pytest

import memzoo
from memzoo import cli
from memzoo import evaluation
from memzoo import shipping
from memzoo import training
from memzoo.models import presets
from memzoo.models import zoo_model

from tests.test_training import TINY
from tests.test_training import command_output

SAVED_MODELS = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                            "saved_models")
# The presets shipped in saved_models/ (issue: "Prebuilt models").
SHIPPED = ["biglm_python", "biglm_shakespeare", "co2_lstm", "lstm_lm_python",
           "lstm_lm_shakespeare", "ntm_associative_recall", "ntm_copy",
           "sentiment_lstm", "sunspots_lstm", "topics_memory", "translator_en_de"]
MAX_SAVED_MODELS_BYTES = 40 * 2**20


@pytest.fixture(scope="module")
def shipped(corpus, tmp_path_factory):
    """lstm_lm_tiny trained for 10 steps on a play and shipped into a
    saved_models/ folder of the test's own."""
    folder = tmp_path_factory.mktemp("saved_models")
    run = tmp_path_factory.mktemp("runs") / "lstm_lm_tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(presets.SAVED_MODELS_ENV, str(folder))
        assert cli.main([str(a) for a in [
            "train", "--preset", "lstm_lm_tiny", "--data", corpus, "--steps", 10,
            *TINY, "--output", run]]) == 0
        path = shipping.ship(str(run), "lstm_lm_tiny", note="A test run.",
                             probe_tokens=4096,
                             probe_reset_every=(16, 64, 256, 1024))
    return {"folder": str(folder), "run": str(run), "path": path}


@pytest.fixture
def saved_models(shipped, monkeypatch):
    monkeypatch.setenv(presets.SAVED_MODELS_ENV, shipped["folder"])
    return shipped


def read_metadata(path):
    with open(os.path.join(path, "metadata.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_a_shipped_preset_loads_its_trained_weights_by_name(saved_models):
    assert saved_models["path"] == os.path.join(saved_models["folder"],
                                                "lstm_lm_tiny")
    assert memzoo.get_preset("lstm_lm_tiny")["weights"] == saved_models["path"]
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    trained = memzoo.LSTMLanguageModel.from_preset(
        os.path.join(saved_models["run"], "preset"))
    ids = np.arange(3, 40)[None, :]
    np.testing.assert_array_equal(model(ids), trained(ids))
    # The weights without the optimizer's state.
    with h5py.File(os.path.join(saved_models["path"], "model.weights.h5")) as f:
        assert "optimizer" not in f
    # The architecture alone: the same shapes, fresh values.
    bare = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny", load_weights=False)
    assert [w.shape for w in bare.get_weights()] == [
        w.shape for w in model.get_weights()]
    assert not np.array_equal(bare(ids), model(ids))


@pytest.mark.slow
def test_training_a_shipped_preset_starts_from_fresh_weights(saved_models):
    model = training.build_model("lstm_lm_tiny")
    shipped = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    ids = np.arange(3, 40)[None, :]
    assert not np.array_equal(model(ids), shipped(ids))


@pytest.mark.slow
def test_its_metadata_holds_the_scores_memzoo_eval_prints(saved_models, capsys):
    metadata = read_metadata(saved_models["path"])
    recorded = metadata["metadata"]["shipped"]
    assert recorded["command"] == "memzoo eval --model lstm_lm_tiny --baseline"
    assert metadata["metadata"]["run"]["preset"] == "lstm_lm_tiny"
    printed = command_output(capsys, "eval", "--model", "lstm_lm_tiny", "--baseline")
    scores = recorded["scores"]
    assert (f"bits per character {scores['bits_per_character']:.3f}  one stream "
            f"(state carried) {scores['stream_bits_per_character']:.3f}") in printed
    assert f"{scores['baseline_unigram_bits_per_character']:.3f} bits" in printed
    # The slice the tests score again is the first batches of the same split.
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    check = recorded["check"]
    again = evaluation.evaluate(model, metadata["metadata"]["run"]["data"],
                                batch_size=4, sequence_length=32,
                                max_batches=check["max_batches"])
    assert again == pytest.approx(check["scores"], rel=1e-5)
    assert check["scores"] != pytest.approx(scores)
    probe = recorded["probe"]
    assert probe["tokens"] == 4096
    assert set(probe["reset"]) == {"16", "64", "256", "1024"}


@pytest.mark.slow
def test_its_card_is_written_from_its_metadata(saved_models):
    metadata = read_metadata(saved_models["path"])
    with open(os.path.join(saved_models["path"], "README.md"), encoding="utf-8") as f:
        card = f.read()
    assert card == shipping.card_text("lstm_lm_tiny", metadata)
    scores = metadata["metadata"]["shipped"]["scores"]
    assert f"| stream bits per character | {scores['stream_bits_per_character']:.3f} |" in card
    assert ("memzoo train --preset lstm_lm_tiny --data " in card
            and "--steps 10 --batch-size 4 --sequence-length 32" in card
            and "--stateful --stream-length 128" in card)
    assert "A test run." in card
    assert os.path.isfile(os.path.join(saved_models["path"], "probe.png"))
    assert "(its effective memory length;" in card


@pytest.mark.slow
def test_memzoo_list_shows_the_shipped_score(saved_models, capsys):
    rows = {line.split()[0]: line
            for line in command_output(capsys, "list").splitlines()[1:]}
    scores = read_metadata(saved_models["path"])["metadata"]["shipped"]["scores"]
    assert "shipped" in rows["lstm_lm_tiny"]
    assert (f"{scores['stream_bits_per_character']:.3f} bits/char  "
            f"{scores['baseline_unigram_bits_per_character']:.3f} unigram"
            ) in rows["lstm_lm_tiny"]
    assert "none (config only)  -" in rows["lstm_lm_small"]


@pytest.mark.slow
def test_a_shipped_preset_is_not_overwritten(saved_models):
    with pytest.raises(ValueError, match="`name`: .*lstm_lm_tiny exists"):
        shipping.ship(saved_models["run"], "lstm_lm_tiny")
    with pytest.raises(ValueError, match="`run_dir`. Expected the folder of a "
                       "finished `memzoo train` run"):
        shipping.ship(os.path.dirname(saved_models["run"]), "lstm_lm_tiny")
    with pytest.raises(ValueError, match="Expected the preset the run trained "
                       r"\('lstm_lm_tiny'\). Received: 'lstm_lm_small'"):
        shipping.ship(saved_models["run"], "lstm_lm_small")


@pytest.mark.slow
def test_a_shipped_file_with_one_byte_changed_is_refused(shipped, tmp_path,
                                                         monkeypatch):
    folder = tmp_path / "saved_models"
    shutil.copytree(shipped["folder"], folder)
    monkeypatch.setenv(presets.SAVED_MODELS_ENV, str(folder))
    path = folder / "lstm_lm_tiny" / "model.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="whose model.weights.h5 has sha256 "
                       "[0-9a-f]{64}: it was changed or damaged"):
        memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_preset_reproduces_its_card(name):
    # Loaded by name, offline, its files checked; scored on the first
    # batches of its test split as when it was shipped.
    path = presets.shipped_preset_dir(name)
    metadata = read_metadata(path)
    shipped = metadata["metadata"]["shipped"]
    model = zoo_model.ZooModel.from_preset(name)
    settings = evaluation.run_settings(path)
    scores = evaluation.evaluate(
        model, settings.get("data"), batch_size=settings["batch_size"],
        sequence_length=settings.get("sequence_length"),
        max_batches=shipped["check"]["max_batches"])
    for score, expected in shipped["check"]["scores"].items():
        tolerance = shipping.CHECK_TOLERANCES.get(score)
        if tolerance is None:
            continue  # Loss and perplexity move with bits per character.
        if score in shipping.RELATIVE_TOLERANCES:
            tolerance *= abs(expected)
        assert abs(scores[score] - expected) <= tolerance, (score, scores[score])
    # The card says what metadata.json records, and nothing else.
    compare = shipping.CARD_NOTES.get(name, {}).get("compare")
    with open(os.path.join(path, "README.md"), encoding="utf-8") as f:
        assert f.read() == shipping.card_text(
            name, metadata, compare and shipping.shipped_metadata(compare))


def test_memzoo_list_shows_every_shipped_score(capsys):
    rows = {line.split()[0]: line
            for line in command_output(capsys, "list").splitlines()[1:]}
    for name in SHIPPED:
        held_out, baseline = shipping.summary(shipping.shipped_metadata(name))
        assert re.search(rf" shipped +{re.escape(held_out)} +"
                         rf"{re.escape(baseline)} ", rows[name]), rows[name]


def test_saved_models_fit_in_40_mb():
    total = sum(os.path.getsize(os.path.join(folder, name))
                for folder, _, names in os.walk(SAVED_MODELS) for name in names)
    assert total <= MAX_SAVED_MODELS_BYTES


def test_the_shipped_presets_are_those_listed():
    shipped = sorted(name for name in memzoo.list_presets()
                     if presets.shipped_preset_dir(name) is not None)
    assert shipped == sorted(SHIPPED)
