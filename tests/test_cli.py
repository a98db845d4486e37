import os
import subprocess
import sys

import pytest

import memzoo
from memzoo import cli


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"memzoo {memzoo.__version__}"


def test_list_prints_every_preset_with_its_parameters(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["preset", "model", "parameters", "weights"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == memzoo.list_presets()
    tiny = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    tiny.build((None, None))
    assert f"{tiny.count_params():,}" in rows["lstm_lm_tiny"]
    assert "config only" in rows["lstm_lm_tiny"]
    # Shipped: built, with its trained weights.
    regressor = memzoo.SequenceRegressor.from_preset("co2_lstm")
    assert rows["co2_lstm"].split()[1:3] == ["SequenceRegressor",
                                             f"{regressor.count_params():,}"]


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["list", "--bogus"]])
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("memzoo")
    assert "Traceback" not in error


@pytest.mark.slow
def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "memzoo")
    result = subprocess.run([script, "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip() == f"memzoo {memzoo.__version__}"
