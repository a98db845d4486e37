import os
import re
import shlex

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_blocks(language):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return re.findall(rf"```{language}\n(.*?)```", f.read(), flags=re.S)


def readme_block(language, containing):
    """The one `language` block of README.md that contains `containing`."""
    blocks = [block for block in readme_blocks(language) if containing in block]
    assert len(blocks) == 1, f"{len(blocks)} {language} blocks contain {containing!r}"
    return blocks[0]


@pytest.mark.slow
def test_readme_quickstart_runs(capsys):
    quickstart = readme_blocks("python")[0]
    namespace = {}
    exec(compile(quickstart, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("To be, or")
    assert namespace["logits"].shape == (1, 10, 259)
    model, weights = namespace["model"], namespace["weights"]
    assert len(weights) == model.num_layers
    assert weights[0]["attention"].shape == (1, model.num_heads, 19, 16)
    assert weights[0]["forget_gate"].shape[2] == 4


def test_readme_data_example_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    data_example = readme_block("python", "tfds.load(")
    namespace = {}
    exec(compile(data_example, "README.md", "exec"), namespace)
    inputs, targets = next(iter(namespace["lm"]))
    assert inputs.shape == targets.shape == (32, 128)
    source, target = next(iter(namespace["pairs"]))
    assert source.shape == (32, 64)
    assert namespace["words"].vocabulary_size() == 20000
    subwords = namespace["subwords"]
    assert subwords.vocabulary_size == 2000
    assert subwords.decode(subwords.encode("Open the file")) == "Open the file"
    ids, labels = next(iter(namespace["held_out"]))
    assert ids.shape[0] == labels.shape[0] == 32


def test_readme_commands_are_the_makefile_targets():
    commands = readme_blocks("sh")[0]
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
        makefile = f.read()
    for target in re.findall(r"^make (\w+)", commands, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M)
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert "make test" in f.read()


def test_readme_memzoo_commands_parse():
    from memzoo import cli

    commands = [line for block in readme_blocks("sh") for line in block.splitlines()
                if line.startswith("memzoo ")]
    assert len(commands) >= 3
    for command in commands:
        cli.build_parser().parse_args(shlex.split(command, comments=True)[1:])
