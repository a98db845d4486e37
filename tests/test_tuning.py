"""`memzoo tune`: keras-tuner search over memory sizes; resume, distributed, bad input."""

import contextlib
import csv
import io
import json
import math
import os
import subprocess
import time
import types

import keras
import keras_tuner
import matplotlib.image
import pytest

import memzoo
from memzoo import cli
from memzoo import tuning
from tests.test_training import MEMZOO
from tests.test_training import free_port
from tests.test_training import one_line_error

# One block, no token LSTM, 4 steps a trial: a trial traces in seconds.
TINY = ["--working-memory-range", "4:8", "--long-short-term-memory-choices", "0,2",
        "--num-layers-choices", "1", "--lstm-layers", "0", "--steps", "4",
        "--epochs-per-trial", "2", "--batch-size", "2", "--sequence-length", "16",
        "--validation-batches", "2", "--warmup-steps", "1", "--no-jit-compile"]
MAX_TRIALS = 3


def trial_records(output):
    project = output / tuning.PROJECT_NAME
    return {
        path.name: json.loads((path / "trial.json").read_text())
        for path in sorted(project.glob("trial_*"))
    }


def progress_lines(stdout):
    return [line for line in stdout.splitlines()
            if line.startswith("trial ") and line.endswith(" s]")]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def search(corpus, tmp_path_factory):
    """One search, interrupted in its second trial, then run again twice."""
    output = tmp_path_factory.mktemp("search") / "search"
    argv = ["tune", "--data", corpus, *TINY, "--max-trials", MAX_TRIALS,
            "--output", output]
    fitted = []  # The hyperparameter values of each `fit`, per session.
    fit = tuning.MemoryHyperModel.fit

    def counting_fit(interrupt_at=None):
        def wrapped(self, hp, model, **kwargs):
            fitted[-1].append(dict(hp.values))
            if len(fitted[-1]) == interrupt_at:
                raise KeyboardInterrupt  # Ctrl-C in the middle of a trial.
            return fit(self, hp, model, **kwargs)

        return wrapped

    sessions = []
    for interrupt_at in (2, None, None):
        fitted.append([])
        stdout, stderr = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tuning.MemoryHyperModel, "fit", counting_fit(interrupt_at))
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                status = cli.main([str(a) for a in argv])
        sessions.append({"status": status, "stdout": stdout.getvalue(),
                         "stderr": stderr.getvalue(), "fitted": fitted[-1],
                         "trials": trial_records(output),
                         "wrote_results": (output / tuning.RESULTS_FILE).exists()})
    return output, sessions


def test_an_interrupted_search_continues_without_repeating_a_finished_trial(search):
    output, (interrupted, resumed, again) = search
    assert interrupted["status"] == 130, interrupted["stderr"][-2000:]
    assert "memzoo tune: interrupted" in interrupted["stderr"]
    before = interrupted["trials"]
    assert [record["status"] for record in before.values()] == ["COMPLETED", "RUNNING"]
    assert not interrupted["wrote_results"]

    assert resumed["status"] == 0, resumed["stderr"][-2000:]
    after = resumed["trials"]
    assert len(after) == MAX_TRIALS
    assert all(record["status"] == "COMPLETED" for record in after.values())
    # The finished trial is not trained again: its record is untouched.
    assert after["trial_0"] == before["trial_0"]
    # The interrupted one runs again with its values, then the last one.
    assert len(resumed["fitted"]) == MAX_TRIALS - 1
    assert resumed["fitted"][0] == interrupted["fitted"][1]
    assert after["trial_1"]["hyperparameters"]["values"] == interrupted["fitted"][1]
    values = [tuple(sorted(r["hyperparameters"]["values"].items())) for r in after.values()]
    assert len(set(values)) == MAX_TRIALS


def test_a_finished_search_run_again_trains_nothing(search):
    output, (_, resumed, again) = search
    assert again["status"] == 0 and again["fitted"] == []
    assert again["trials"] == resumed["trials"]
    table = resumed["stdout"][resumed["stdout"].index("trial  "):]
    assert table in again["stdout"]


def test_the_search_prints_a_line_per_trial_and_a_table_best_first(search):
    output, (_, resumed, _) = search
    lines = resumed["stdout"].splitlines()
    progress = progress_lines(resumed["stdout"])
    assert len(progress) == MAX_TRIALS - 1  # This session ran two trials.
    assert all("W=" in line and "M=" in line and "tokens/s" in line for line in progress)
    header = lines.index(next(line for line in lines if line.startswith("trial  ")))
    assert lines[header].split()[:5] == ["trial", "W", "M", "S", "parameters"]
    assert "val_loss  bits per character  tokens/s" in lines[header]
    rows = [line.split() for line in lines[header + 1: header + 1 + MAX_TRIALS]]
    losses = [float(row[5]) for row in rows]
    assert losses == sorted(losses)
    records = resumed["trials"]
    for row in rows:
        record = records[f"trial_{row[0]}"]
        observed = record["metrics"]["metrics"]["val_loss"]["observations"]
        assert float(row[5]) == pytest.approx(observed[0]["value"][0], abs=1e-4)
        assert int(row[1]) == record["hyperparameters"]["values"]["working_memory"]


def test_the_csv_the_plot_and_the_best_model_are_written(search):
    output, (_, resumed, _) = search
    rows = read_csv(output / tuning.RESULTS_FILE)
    assert list(rows[0])[:8] == [name for name, _ in tuning.COLUMNS]
    assert sorted(row["trial"] for row in rows) == ["0", "1", "2"]
    losses = [float(row["val_loss"]) for row in rows]
    assert losses == sorted(losses)
    for row in rows:
        assert float(row["bits_per_character"]) == pytest.approx(
            float(row["val_loss"]) / math.log(2), rel=1e-4)
        assert int(row["segment_length"]) == int(row["working_memory"])
        assert float(row["tokens_per_second"]) > 0
    with_slots = [int(r["parameters"]) for r in rows if r["long_short_term_memory"] != "0"]
    without = [int(r["parameters"]) for r in rows if r["long_short_term_memory"] == "0"]
    assert min(with_slots + [math.inf]) > max(without + [0])

    image = matplotlib.image.imread(output / tuning.PLOT_FILE)
    assert image.shape[0] > 100 and image.shape[1] > 100

    best = rows[0]
    model = keras.saving.load_model(output / tuning.BEST_MODEL_FILE)
    assert isinstance(model, memzoo.BigLanguageModel)
    assert model.working_memory == int(best["working_memory"])
    assert model.long_short_term_memory == int(best["long_short_term_memory"])
    # The weights of the best trial at its best epoch: its val_loss again.
    _, validation = tuning.MemoryHyperModel(
        data_source=json.loads((output / "run.json").read_text())["data_source"],
        batch_size=2, sequence_length=16, validation_batches=2,
    ).datasets()
    loss = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(float(best["val_loss"]), rel=1e-4)


def test_bayesian_search_runs(capsys, corpus, tmp_path):
    output = tmp_path / "bayesian"
    assert cli.main(["tune", "--data", corpus, *TINY, "--tuner", "bayesian",
                     "--max-trials", "2", "--output", str(output)]) == 0
    rows = read_csv(output / tuning.RESULTS_FILE)
    assert len(rows) == 2
    assert all(math.isfinite(float(row["val_loss"])) for row in rows)


@pytest.mark.training_outcome
def test_on_a_memory_task_the_search_finds_that_slots_are_needed(
    tmp_path, seed, record_property
):
    # The answer lies 34 tokens back, W = 8 and one block without a token
    # LSTM: without slots the value is out of reach, chance is ln(10).
    rows = tuning.tune(
        str(tmp_path), data_source="associative_recall:num_pairs=1,distance=32",
        tuner="grid", working_memory_range=(8, 8), long_short_term_memory_choices=[0, 4],
        steps=200, epochs=4, batch_size=32, learning_rate=1e-2, warmup_steps=10,
        validation_batches=4, jit_compile=False, seed=seed,
        overrides={"embedding_dim": 16, "hidden_dim": 32, "num_heads": 2,
                   "num_layers": 1, "lstm_layers": 0},
    )
    assert len(rows) == 2
    best, worst = rows
    record_property("val_loss_with_slots", float(best["val_loss"]))
    record_property("val_loss_without_slots", float(worst["val_loss"]))
    assert best["long_short_term_memory"] == 4 and worst["long_short_term_memory"] == 0
    assert worst["val_loss"] > math.log(10) - 0.1
    assert best["val_loss"] < 0.5


@pytest.mark.slow
def test_a_chief_and_two_workers_record_every_trial_once(capsys, corpus, monkeypatch,
                                                         tmp_path):
    output = tmp_path / "distributed"
    arguments = ["tune", "--data", corpus, *TINY, "--working-memory-range", "4:32",
                 "--long-short-term-memory-choices", "0", "--max-trials", "4",
                 "--output", str(output)]
    port = str(free_port())
    processes = {}
    for tuner_id in ("tuner0", "tuner1"):
        environment = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id,
                           KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port)
        processes[tuner_id] = subprocess.Popen(
            MEMZOO + arguments, env=environment, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
    # The chief runs in this process (no TensorFlow start-up) until the
    # workers are done. Once one has no trial left, keras-tuner's chief
    # checks every 20 s whether the other is done too
    # (`oracle_chief.start_server`): polled every 0.5 s here, so that the
    # test does not idle for up to 20 s.
    from keras_tuner.src.distribute import oracle_chief

    monkeypatch.setattr(oracle_chief, "time", types.SimpleNamespace(
        sleep=lambda seconds: time.sleep(min(seconds, 0.5))))
    for name, value in (("KERASTUNER_TUNER_ID", "chief"),
                        ("KERASTUNER_ORACLE_IP", "127.0.0.1"),
                        ("KERASTUNER_ORACLE_PORT", port)):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(arguments) == 0, capsys.readouterr().err[-3000:]
    outputs = {"chief": capsys.readouterr().out}
    for tuner_id, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, (tuner_id, stderr[-3000:])
        outputs[tuner_id] = stdout

    ran = {tuner_id: [line.split()[1] for line in progress_lines(outputs[tuner_id])]
           for tuner_id in ("tuner0", "tuner1")}
    assert "no trials left" in outputs["tuner0"] and "no trials left" in outputs["tuner1"]
    assert sorted(ran["tuner0"] + ran["tuner1"]) == ["0", "1", "2", "3"]
    rows = read_csv(output / tuning.RESULTS_FILE)
    assert sorted(row["trial"] for row in rows) == ["0", "1", "2", "3"]
    assert sorted(int(row["working_memory"]) for row in rows) == [4, 8, 16, 32]
    assert (output / tuning.PLOT_FILE).exists()
    assert "val_loss" in outputs["chief"] and (output / tuning.BEST_MODEL_FILE).exists()


def test_bad_tuning_input_is_one_line(capsys, corpus, tmp_path):
    base = ["tune", "--data", corpus, *TINY]
    cases = [
        (["--working-memory-range", "8:4"], "empty range"),
        (["--long-short-term-memory-choices=-1,8"],
         "`long_short_term_memory_choices`. Expected integers >= 0"),
        (["--max-trials", 0], "`max_trials`. Expected a strictly positive integer"),
        (["--max-trials", -2], "Received: max_trials=-2"),
        (["--tuner", "hyperband", "--max-trials", 3], "Hyperband"),
        (["--steps", 2, "--epochs-per-trial", 4], "`epochs`. Expected at most steps=2"),
        (["--data", "associative_recall:num_pairs=2"], "needs distance"),
        (["--data", "associative_recall:pairs=2,distance=8"], "takes num_pairs=VALUE"),
        (["--preset", "lstm_lm_tiny"], "builds a LSTMLanguageModel, which has no"),
        (["--data", tmp_path / "missing.txt"], "missing.txt"),
    ]
    for extra, expected in cases:
        output = tmp_path / "out"
        error = one_line_error(capsys, base + extra + ["--output", output])
        assert expected in error, (extra, error)
        assert not output.exists()


@pytest.mark.parametrize("argv", [["--working-memory-range", "8"],
                                  ["--long-short-term-memory-choices", "a,b"],
                                  ["--tuner", "annealing"]])
def test_malformed_tuning_options_are_usage_errors(argv, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tune", *argv, "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"working_memory_range": (16, 8)}, r"working_memory_range=\(16, 8\), an empty range"),
        ({"working_memory_range": (0, 8)}, "`working_memory_range`. Expected values >= 1"),
        ({"working_memory_range": 16}, "Expected a range"),
        ({"long_short_term_memory_choices": []}, "Expected at least one choice"),
        ({"long_short_term_memory_choices": [4, -1]}, r"Received: long_short_term_memory_choices=\[4, -1\]"),
        ({"segment_length_choices": [0]}, "`segment_length_choices`. Expected integers >= 1"),
        ({"learning_rate": 0}, "`learning_rate`. Expected strictly positive"),
        ({"learning_rate_range": (1e-2, 1e-3)}, "an empty range"),
        ({"steps": 0}, "`steps`"),
    ],
)
def test_bad_hypermodel_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tuning.MemoryHyperModel(**arguments)


def test_the_sequence_length_defaults_as_for_memzoo_train():
    # `memzoo tune` passes None when --sequence-length is not given.
    assert tuning.MemoryHyperModel(sequence_length=None).sequence_length == 128
    assert tuning.MemoryHyperModel(
        preset="biglm_shakespeare", sequence_length=None).sequence_length == 256
    assert tuning.MemoryHyperModel(
        preset="biglm_shakespeare", sequence_length=64).sequence_length == 64


def test_the_hypermodel_draws_the_sizes_from_hp():
    hypermodel = tuning.MemoryHyperModel(
        working_memory_range=(8, 64), long_short_term_memory_choices=[0, 4],
        segment_length_choices=[4, 16], learning_rate_range=(1e-4, 1e-2),
        overrides={"embedding_dim": 8, "hidden_dim": 8, "num_heads": 2, "num_layers": 1},
        jit_compile=False)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    space = {p.name: p for p in hp.space}
    assert list(space["working_memory"].values) == [8, 16, 32, 64]
    assert space["working_memory"].sampling == "log"
    assert space["long_short_term_memory"].values == [0, 4]
    assert space["learning_rate"].sampling == "log"
    hp.values.update(working_memory=32, long_short_term_memory=4, segment_length=16,
                     learning_rate=1e-3)
    model = hypermodel.build(hp)
    assert (model.working_memory, model.long_short_term_memory,
            model.segment_length) == (32, 4, 16)
    assert model.optimizer.learning_rate.numpy() < 1e-3  # Warming up to it.


@pytest.mark.parametrize("stateful", [True, False])
def test_trials_train_statefully_when_asked_as_memzoo_train_does(corpus, stateful):
    hypermodel = tuning.MemoryHyperModel(
        data_source=corpus, stateful=stateful, working_memory_range=(4, 4),
        long_short_term_memory_choices=[2], steps=3, epochs=1, batch_size=2,
        sequence_length=16, validation_batches=1, warmup_steps=1,
        overrides={"embedding_dim": 8, "hidden_dim": 8, "num_heads": 2,
                   "num_layers": 1, "lstm_layers": 0},
        jit_compile=False)
    assert hypermodel.stateful is stateful
    # A BigLanguageModel trains on windows unless told (`memzoo train` too).
    assert tuning.MemoryHyperModel(data_source=corpus).stateful is False
    assert hypermodel.stream_length == 4 * 16
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    metrics = hypermodel.fit(hp, model)
    assert math.isfinite(metrics["val_loss"])
    if stateful:
        # Each of the batch's rows carries the slots it wrote on to the next step.
        slots = model.carried_state_values()["block_0_slots"]
        assert slots.shape[0] == 2 and abs(slots).max() > 0
    else:
        assert model.carried_state is None


def test_a_memory_task_is_not_tuned_statefully():
    task = "copy:length=2,distance=4"
    with pytest.raises(ValueError, match="argument `stateful`. Expected a "
                       "next-token model trained on a corpus"):
        tuning.MemoryHyperModel(data_source=task, stateful=True)
