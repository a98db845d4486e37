import pytest

import memzoo


def test_list_presets_names_the_registered_presets():
    names = memzoo.list_presets()
    assert names == sorted(names)
    assert {"lstm_lm_tiny", "lstm_lm_small"} <= set(names)
    assert memzoo.list_presets(memzoo.LSTMLanguageModel) == [
        "lstm_lm_small", "lstm_lm_tiny"
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
