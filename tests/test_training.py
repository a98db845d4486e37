"""`memzoo train / eval / generate` end to end, resume, strategies, bad input."""

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo
from memzoo import cli
from memzoo import data
from memzoo import evaluation
from memzoo import training

MEMZOO = [sys.executable, "-m", "memzoo.cli"]
# Tiny, quick settings; XLA compilation would dominate these runs.
TINY = ["--batch-size", "4", "--sequence-length", "32", "--no-jit-compile",
        "--validation-batches", "2", "--warmup-steps", "5"]


def memzoo_command(*args, **kwargs):
    return subprocess.run(MEMZOO + [str(a) for a in args], capture_output=True,
                          text=True, timeout=600, **kwargs)


def weights_of(path):
    return keras.saving.load_model(path).get_weights()


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_memory_sizes_override_the_preset():
    model = training.build_model(
        "biglm_tiny", {"working_memory": 8, "long_short_term_memory": 2,
                       "segment_length": None})
    assert isinstance(model, memzoo.BigLanguageModel)
    assert model.working_memory == 8 and model.long_short_term_memory == 2


def test_a_neural_turing_machine_trains_on_a_memory_task(capsys, tmp_path):
    output = tmp_path / "ntm"
    assert cli.main(["train", "--preset", "ntm_copy", "--data",
                     "copy:length=4,distance=0,vocabulary=ab", "--steps", "6",
                     "--batch-size", "4", "--backup-every", "3", "--validation-batches",
                     "2", "--no-jit-compile", "--output", str(output)]) == 0
    assert isinstance(keras.saving.load_model(output / "model.keras"),
                      memzoo.NeuralTuringMachine)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["steps"] == 6 and np.isfinite(metrics["validation_loss"])
    assert 0 <= metrics["validation_accuracy"] <= 1
    assert f"accuracy {metrics['validation_accuracy']:.4f}" in capsys.readouterr().out
    # eval draws its own examples of the run's task and scores the answer.
    assert cli.main(["eval", "--model", str(output / "model.keras"), "--baseline",
                     "--max-batches", "3"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy " in printed
    assert "chance (answer symbols guessed): accuracy 0.5000" in printed


def test_a_text_classifier_trains_on_its_presets_corpus(capsys, tmp_path):
    output = tmp_path / "sentiment"
    # No --data: the preset's own corpus, tweet_sentiment, read as words.
    assert cli.main(["train", "--preset", "sentiment_lstm", "--steps", "8",
                     "--batch-size", "8", "--sequence-length", "24", "--backup-every",
                     "4", "--validation-batches", "4", "--no-jit-compile",
                     "--output", str(output)]) == 0
    model = keras.saving.load_model(output / "model.keras")
    assert isinstance(model, memzoo.TextClassifier)
    assert model.classify(["what a lovely day"]).shape == (1, 3)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["config"]["data"] == "tweet_sentiment"
    assert 0 <= metrics["validation_accuracy"] <= 1
    assert "bits_per_character" not in " ".join(metrics)
    assert f"accuracy {metrics['validation_accuracy']:.4f}" in capsys.readouterr().out
    # eval reads the run's data with the run's batch size and text length
    # (the test split; the run validated on a part of the training split).
    assert cli.main(["eval", "--model", str(output / "model.keras"),
                     "--max-batches", "4", "--baseline"]) == 0
    printed = capsys.readouterr().out
    scores = evaluation.evaluate(model, "tweet_sentiment", batch_size=8,
                                 sequence_length=24, max_batches=4)
    assert f"accuracy {scores['accuracy']:.4f}" in printed
    train_labels = np.concatenate([label for _, label in data.supervised_dataset(
        "tweet_sentiment", "train").batch(4096)])
    test_labels = np.concatenate([label for _, label in data.supervised_dataset(
        "tweet_sentiment", "test").take(32).batch(32)])
    majority = np.mean(test_labels == np.bincount(train_labels).argmax())
    assert (f"majority-class baseline (the train split's most frequent class): "
            f"accuracy {majority:.4f}") in printed
    # Exported, its word vocabulary goes along: `classify` takes strings.
    assert cli.main(["export", "--model", str(output / "model.keras"), "--output",
                     str(tmp_path / "exports" / "sentiment")]) == 0
    served = tf.saved_model.load(str(tmp_path / "exports" / "sentiment" / "1"))
    texts = ["what a lovely day", "this is awful"]
    np.testing.assert_allclose(
        served.signatures["classify"](text=tf.constant(texts))["probabilities"],
        model.classify(texts), atol=1e-6)


def test_a_sequence_regressor_trains_on_a_real_series(capsys, tmp_path):
    output = tmp_path / "sunspots"
    # No --sequence-length: the preset's window.
    assert cli.main(["train", "--preset", "sunspots_lstm", "--steps", "6",
                     "--batch-size", "16", "--backup-every", "3", "--no-jit-compile",
                     "--output", str(output)]) == 0
    assert isinstance(keras.saving.load_model(output / "model.keras"),
                      memzoo.SequenceRegressor)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["config"]["data"] == "sunspots"
    assert metrics["config"]["sequence_length"] == 22
    assert np.isfinite(metrics["validation_mae"]) and metrics["validation_mae"] > 0
    assert f"MAE (normalized) {metrics['validation_mae']:.4f}" in capsys.readouterr().out
    # eval gives the error in sunspots, on the run's window, with the baselines.
    assert cli.main(["eval", "--model", str(output / "model.keras"), "--baseline"]) == 0
    printed = capsys.readouterr().out
    scores = evaluation.evaluate(keras.saving.load_model(output / "model.keras"),
                                 "sunspots", sequence_length=22, baselines=True)
    assert f"MAE {scores['mae']:.4f}" in printed
    assert f"naive baseline (the last value): MAE {scores['baseline_naive_mae']:.4f}" in printed
    assert "seasonal-naive baseline (the value a season before): MAE" in printed


def test_data_with_other_classes_than_the_model_is_refused(capsys, tmp_path):
    assert cli.main(["train", "--preset", "sentiment_lstm", "--data", "bbc_news",
                     "--output", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "'bbc_news' has 5 classes, the model 3" in error
    assert not os.listdir(tmp_path)  # Nothing written.


def test_a_translator_trains_on_real_sentence_pairs(capsys, tmp_path):
    output = tmp_path / "translator"
    assert cli.main(["train", "--preset", "translator_tiny", "--steps", "4",
                     "--batch-size", "8", "--sequence-length", "32",
                     "--backup-every", "2", "--validation-batches", "2",
                     "--no-jit-compile", "--output", str(output)]) == 0
    model = keras.saving.load_model(output / "model.keras")
    assert isinstance(model, memzoo.Seq2SeqTranslator)
    assert isinstance(model.translate(["Open file"], max_length=8)[0], str)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["config"]["data"] == "gettext_translations/en_to_de"
    assert 0 <= metrics["validation_accuracy"] <= 1
    # eval: the test split's first pairs, and BLEU of their translations,
    # decoded back from the ids to the very texts of the corpus.
    assert cli.main(["eval", "--model", str(output / "model.keras"),
                     "--max-batches", "2", "--baseline"]) == 0
    printed = capsys.readouterr().out
    scores = evaluation.evaluate(model, "gettext_translations/en_to_de",
                                 batch_size=8, sequence_length=32, max_batches=2)
    assert f"token accuracy {scores['token_accuracy']:.4f}" in printed
    pairs = [(source.numpy().decode(), target.numpy().decode())
             for source, target in data.supervised_dataset(
                 "gettext_translations/en_to_de", "test")
             if max(len(source.numpy()), len(target.numpy()) + 2) <= 32][:16]
    sources, references = zip(*pairs)
    bleu, _ = memzoo.metrics.translation_bleu(model, sources, references, max_length=32)
    assert f"BLEU {bleu.score:.2f}" in printed
    copied = memzoo.metrics.corpus_bleu(sources, references).score
    assert f"copy baseline (the source as it is): BLEU {copied:.2f}" in printed


@pytest.mark.slow
def command_output(capsys, *args):
    """`memzoo ARGS` in this process (no TensorFlow start-up): its output."""
    capsys.readouterr()
    assert cli.main([str(a) for a in args]) == 0, capsys.readouterr().err[-3000:]
    return capsys.readouterr().out


def test_train_then_eval_then_generate(capsys, corpus, tmp_path):
    # The LSTM preset traces in seconds; the memory model's options are
    # checked above and its training in tests/test_big_language_model.py.
    output = tmp_path / "run"
    command = ["train", "--preset", "lstm_lm_tiny", "--data", corpus, "--steps", 10,
               "--backup-every", 5, *TINY, "--output", output]
    trained = memzoo_command(*command)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "bits per character" in trained.stdout
    # An LSTM language model trains statefully by default, a reset every 4
    # windows of 32 tokens.
    assert "stateful (reset every 128 tokens)" in trained.stdout
    assert {"model.keras", "preset", "metrics.json", "run.json", "logs"} <= set(
        os.listdir(output))
    assert not os.path.exists(output / "backup")  # Removed once the run is done.
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["steps"] == 10 and metrics["resumed_from_step"] == 0
    assert metrics["config"]["preset"] == "lstm_lm_tiny"
    assert metrics["stateful"] is metrics["config"]["stateful"] is True
    assert metrics["config"]["stream_length"] == 4 * 32
    assert metrics["validation_bits_per_character"] == pytest.approx(
        metrics["validation_loss"] / np.log(2), rel=1e-5)
    model = keras.saving.load_model(output / "model.keras")
    assert isinstance(model, memzoo.LSTMLanguageModel)
    assert model.optimizer.iterations.numpy() == 10

    # The run's own settings, given: the preset's eval below reads them.
    evaluated = command_output(capsys, "eval", "--model", output / "model.keras",
                               "--data", corpus, "--batch-size", 4,
                               "--sequence-length", 32)
    assert "bits per character" in evaluated and "perplexity" in evaluated

    # The run's preset directory, moved away from its run folder, holds the
    # same model and the run's settings: eval scores it on the run's data.
    preset = shutil.move(output / "preset", tmp_path / "moved_preset")
    from_preset = memzoo.LSTMLanguageModel.from_preset(preset)
    ids = np.arange(3, 19)[None, :]
    np.testing.assert_array_equal(from_preset(ids), model(ids))
    saved = json.loads((tmp_path / "moved_preset" / "metadata.json").read_text())
    assert saved["metadata"]["run"] == metrics["config"]
    assert command_output(capsys, "eval", "--model", preset) == evaluated

    common = ["generate", "--model", output / "model.keras", "--prompt", "MACBETH.",
              "--max-new-tokens", 24, "--seed", 3]
    whole = command_output(capsys, *common, "--no-jit-compile")
    streamed = command_output(capsys, *common, "--stream")
    assert whole.startswith("MACBETH.")
    assert streamed == whole

    # The same command on a finished run reports it and trains no further.
    assert "validation loss" in command_output(capsys, *command)
    assert json.loads((output / "metrics.json").read_text()) == metrics


@pytest.mark.slow
@pytest.mark.parametrize("model", ["regressor", "memory_model_building_its_data"])
def test_a_killed_run_resumes_to_the_same_weights(model, capsys, monkeypatch,
                                                  tmp_path):
    # Two empty tensorflow-datasets folders: the uninterrupted run builds the
    # dataset in one, the killed run in the other, and the resumed run reads
    # what the killed one built.
    environment = dict(os.environ, TFDS_DATA_DIR=str(tmp_path / "tfds"))
    if model == "memory_model_building_its_data":
        # With dropout: its masks must go on as they would have; stateful:
        # the state the backup carried must too (stretches of 3 windows: a
        # backup every 5 steps falls within one).
        arguments = ["train", "--preset", "biglm_tiny", "--data", "shakespeare_plays",
                     "--steps", 30, "--backup-every", 5, "--seed", 7, "--dropout", 0.1,
                     "--stateful", "--stream-length", 96, *TINY]
    else:
        # 60 steps are 4 passes over the sunspot windows: the resumed run
        # must see each pass in the order the whole run saw it. With XLA:
        # Keras turns XLA off under op determinism, so this also checks that
        # XLA's kernels are deterministic by themselves.
        arguments = ["train", "--preset", "sunspots_lstm", "--steps", 60,
                     "--batch-size", 16, "--backup-every", 10, "--validation-batches",
                     1, "--jit-compile"]
    # In this process: the same command, without another process's import.
    command_output(capsys, *arguments, "--output", tmp_path / "whole",
                   "--data-dir", tmp_path / "tfds-whole")
    if model == "memory_model_building_its_data":
        assert (tmp_path / "tfds-whole" / "shakespeare_plays").is_dir()

    output = tmp_path / "killed"
    process = subprocess.Popen(MEMZOO + [str(a) for a in arguments] +
                               ["--output", str(output)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = output / "backup" / "latest.json"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text())["epoch"] >= 2:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it was killed"
    assert not (output / "model.keras").exists()

    # Resumed in this process (no TensorFlow start-up), after the whole run:
    # what that run left behind (seeds, traced functions) must not matter.
    monkeypatch.setenv("TFDS_DATA_DIR", environment["TFDS_DATA_DIR"])
    command_output(capsys, *arguments, "--output", output)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["resumed_from_step"] >= 10
    for a, b in zip(weights_of(tmp_path / "whole" / "model.keras"),
                    weights_of(output / "model.keras")):
        np.testing.assert_array_equal(a, b)


def test_a_backup_interrupted_while_saving_is_ignored(tmp_path):
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    model.compile()
    model.build((None, None))
    model.optimizer.build(model.trainable_variables)
    backup = training.AtomicBackupAndRestore(str(tmp_path))
    backup.set_model(model)
    backup._current_epoch = 3
    backup._save_model()
    saved = [w.copy() for w in model.get_weights()]
    # A later save killed halfway: a staging folder with a truncated file.
    staging = tmp_path / ".saving-killed"
    staging.mkdir()
    (staging / "backup.weights.h5").write_bytes(b"\x89HDF\r\n")
    model.set_weights([w + 1 for w in saved])
    backup.on_train_begin()
    assert backup.saved_epoch() == 3 and model._initial_epoch == 3
    for restored, expected in zip(model.get_weights(), saved):
        np.testing.assert_array_equal(restored, expected)
    backup._current_epoch = 4
    backup._save_model()
    assert sorted(os.listdir(tmp_path)) == ["epoch-000004", "latest.json"]


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from memzoo import training
kwargs = json.loads(sys.argv[1])
single = training.train(sys.argv[2], strategy="default", verbose=0, **kwargs)
mirrored = training.train(sys.argv[3], strategy="mirrored", verbose=0, **kwargs)
print(json.dumps([single, mirrored]))
"""

STRATEGY_RUN = {"preset": "lstm_lm_tiny", "steps": 12, "backup_every": 4,
                "learning_rate": 0.02,
                "batch_size": 4, "sequence_length": 32, "jit_compile": False,
                "validation_batches": 2, "warmup_steps": 2}


@pytest.mark.slow
@pytest.mark.parametrize("stateful", [False, True])
def test_mirrored_strategy_on_two_cpus_matches_one_device(stateful, corpus,
                                                          tmp_path):
    # Stateful, each replica carries the state of its own rows: a state
    # shared or mixed up between them would change the losses.
    run = dict(STRATEGY_RUN, data_source=corpus, stateful=stateful)
    if stateful:
        # One block: the state of a block is carried as the other's is.
        run.update(preset="biglm_tiny", stream_length=64,
                   overrides={"num_layers": 1})
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(run),
         str(tmp_path / "single"), str(tmp_path / "mirrored")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    single, mirrored = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("train_loss", "validation_loss"):
        # Equal: gradients are clipped once summed over the replicas.
        assert mirrored[key] == pytest.approx(single[key], rel=1e-5)
    # Training moved the loss: the match is not two untrained models.
    assert single["validation_loss"] < np.log(259) - 0.3


@pytest.mark.slow
@pytest.mark.parametrize("model", ["language_model", "regressor"])
def test_multi_worker_strategy_with_two_local_workers(model, capsys, corpus, tmp_path):
    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    if model == "language_model":
        arguments = ["train", "--preset", "lstm_lm_tiny", "--data", corpus,
                     "--steps", 12, "--backup-every", 4, "--learning-rate", 0.02,
                     *TINY[:-2], "--warmup-steps", 2]
    else:
        # Float windows and targets of another shape than token ids.
        arguments = ["train", "--preset", "sunspots_lstm", "--steps", 12,
                     "--batch-size", 16, "--backup-every", 4, "--validation-batches",
                     1, "--no-jit-compile", "--warmup-steps", 2]
    workers = []
    for index in range(2):
        environment = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            MEMZOO + [str(a) for a in arguments]
            + ["--strategy", "multiworker", "--output", str(tmp_path / "multi")],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr[-3000:]
    # Stateful training is not the default across workers (yet): the
    # workers' run must match a run on independent windows.
    command_output(capsys, *arguments, "--output", tmp_path / "single",
                   *(["--no-stateful"] if model == "language_model" else []))

    chief = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    other = json.loads(
        (tmp_path / "multi" / "workers" / "worker-1" / "metrics.json").read_text())
    reference = json.loads((tmp_path / "single" / "metrics.json").read_text())
    # Each worker reads the stream and keeps its half of every global batch,
    # so the two workers take the steps one device takes.
    assert chief["stateful"] is reference["stateful"] is False
    for key in ("train_loss", "validation_loss"):
        assert chief[key] == pytest.approx(other[key], rel=1e-6)
        assert chief[key] == pytest.approx(reference[key], rel=1e-5)
    if model == "language_model":
        assert reference["validation_loss"] < np.log(259) - 0.3


# === Bad input: one line on stderr, a non-zero exit, no traceback ===


def one_line_error(capsys, argv):
    assert cli.main([str(a) for a in argv]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert "Traceback" not in error
    return error


def test_bad_training_input_is_one_line(capsys, corpus, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    base = ["train", "--data", corpus, "--steps", 4, *TINY]
    cases = [
        (["--data", tmp_path / "missing.txt"], "missing.txt"),
        (["--data", empty], "empty"),
        (["--data", "no_such_dataset"], "no_such_dataset"),
        (["--preset", "no_such_preset"], "preset"),
        (["--working-memory", 0], "working_memory"),
        (["--long-short-term-memory", -1], "long_short_term_memory"),
        (["--preset", "lstm_lm_tiny", "--working-memory", 8],
         "LSTMLanguageModel, which has no `working_memory`"),
        (["--steps", 0, "--epochs", 1], "`steps` or `epochs`, not both"),
    ]
    for extra, expected in cases:
        output = tmp_path / "out"
        error = one_line_error(capsys, base + extra + ["--output", output])
        assert expected in error, (extra, error)
        # Nothing is claimed by a run that never started.
        assert not (output / "run.json").exists()


def test_an_output_folder_of_another_run_is_refused(capsys, corpus, tmp_path):
    output = tmp_path / "run"
    training.claim_output_dir(str(output), {"preset": "lstm_lm_tiny", "steps": 8})
    error = one_line_error(capsys, ["train", "--preset", "lstm_lm_tiny", "--data",
                                    corpus, "--steps", 4, *TINY, "--output", output])
    assert "holds a different run" in error


def test_a_model_file_that_is_not_a_memzoo_model_is_refused(capsys, tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    error = one_line_error(capsys, ["eval", "--model", text])
    assert "notes.keras is not a memzoo model file" in error
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    other.save(tmp_path / "dense.keras")
    error = one_line_error(capsys, ["generate", "--model", tmp_path / "dense.keras",
                                    "--prompt", "hi"])
    assert "holds a Sequential, not a memzoo language model" in error
    error = one_line_error(capsys, ["eval", "--model", "no_such_model"])
    assert "a .keras file written by `memzoo train` or a preset name" in error
    error = one_line_error(capsys, ["eval", "--model", "sunspots_lstm", "--split",
                                    "validation"])
    assert "Expected 'train' or 'test' (the held-out tail) for a series" in error
    assert "Received: split='validation'" in error


def test_debug_shows_the_traceback(corpus, tmp_path):
    with pytest.raises(FileNotFoundError):
        cli.main(["train", "--data", str(tmp_path / "missing.txt"), "--debug",
                  "--output", str(tmp_path / "out")])


def test_the_command_line_reports_errors_in_one_line(tmp_path):
    result = memzoo_command("generate", "--model", "lstm_lm_tiny", "--prompt", "",
                            "--max-new-tokens", 2)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("memzoo")]
    assert lines == ["memzoo generate: error: Invalid value for argument `prompt`. "
                     "Expected some text. Received: an empty prompt"]
    assert "Traceback" not in result.stderr


def test_generate_reads_the_prompt_from_standard_input(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("To be"))
    assert cli.main(["generate", "--model", "lstm_lm_tiny", "--prompt", "-",
                     "--max-new-tokens", "3", "--sampler", "greedy",
                     "--no-jit-compile"]) == 0
    assert capsys.readouterr().out.startswith("To be")


@pytest.mark.slow
def test_mixed_precision_training(corpus, tmp_path):
    metrics = training.train(
        str(tmp_path), preset="lstm_lm_tiny", data_source=corpus, steps=4,
        backup_every=2, batch_size=4, sequence_length=32, jit_compile=False,
        mixed_precision="bfloat16", validation_batches=1, warmup_steps=1, verbose=0,
    )
    assert np.isfinite(metrics["validation_loss"])
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.compute_dtype == "bfloat16"
    # The global policy is the caller's again.
    assert keras.config.dtype_policy().name == "float32"


AUTO_RUN = {"preset": "lstm_lm_tiny", "steps": 4, "backup_every": 2,
            "batch_size": 4, "sequence_length": 32, "validation_batches": 2,
            "warmup_steps": 1}


def test_jit_compile_auto_measures_both_and_keeps_the_choice(
        corpus, tmp_path, monkeypatch):
    from memzoo.training import xla_choice

    short = training.train(tmp_path / "short", data_source=corpus, verbose=0,
                           **AUTO_RUN)
    assert short["jit_compile"] == {
        "jit_compile": False, "how": "a run of fewer than 300 steps"}

    monkeypatch.setattr(xla_choice, "MIN_STEPS_TO_MEASURE", 1)
    output = tmp_path / "measured"
    metrics = training.train(output, data_source=corpus, verbose=0, **AUTO_RUN)
    choice = metrics["jit_compile"]
    assert choice["how"] == "measured"
    assert choice["xla_steps_per_second"] > 0
    assert choice["plain_steps_per_second"] > 0
    assert choice["jit_compile"] == (
        choice["xla_steps_per_second"] > choice["plain_steps_per_second"])
    model = keras.saving.load_model(output / "model.keras")
    assert model.jit_compile is choice["jit_compile"]

    # A resumed run keeps the recorded choice rather than measuring again.
    def must_not_measure(*_):
        raise AssertionError("measured again")

    # `stateful` as `train` resolved it (and recorded it) for the run.
    config = training.TrainingConfig(data_source=corpus, stateful=True, **AUTO_RUN)
    kept = xla_choice.choose_jit_compile(
        config, tf.distribute.get_strategy(), str(output), must_not_measure,
        must_not_measure)
    assert kept == choice
    given = training.TrainingConfig(data_source=corpus, stateful=True,
                                    **dict(AUTO_RUN, jit_compile=False))
    assert xla_choice.choose_jit_compile(
        given, tf.distribute.get_strategy(), str(output), must_not_measure,
        must_not_measure) == {"jit_compile": False, "how": "given"}


def test_jit_compile_must_be_a_bool_or_auto():
    with pytest.raises(ValueError, match="argument `jit_compile`. Expected "
                       "True, False or 'auto'. Received: jit_compile='yes'"):
        training.TrainingConfig(jit_compile="yes")


def test_compile_auto_measures_xla_on_a_long_enough_fit(monkeypatch):
    from memzoo.models import xla_speed

    ids = np.random.default_rng(0).integers(3, 200, (8, 17)).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((ids[:, :-1], ids[:, 1:]))
    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    model.compile()  # jit_compile="auto"
    model.fit(dataset.batch(4), epochs=2, verbose=0)
    assert model.xla_choice is None  # 4 steps: not worth two compilations
    assert model.jit_compile is False  # Keras's "auto" on a CPU

    monkeypatch.setattr(xla_speed, "MIN_STEPS_TO_MEASURE", 4)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(ids[:, :-1], ids[:, 1:], batch_size=4, epochs=2,
                        verbose=0)
    choice = model.xla_choice
    assert choice["how"] == "measured"
    assert choice["jit_compile"] == (
        choice["xla_steps_per_second"] > choice["plain_steps_per_second"])
    assert model.jit_compile is choice["jit_compile"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The measuring trained copies, not the model: 2 epochs of 2 batches.
    assert int(model.optimizer.iterations) == 4


def test_stateful_training_is_refused_where_it_cannot_run(tmp_path):
    with pytest.raises(ValueError, match="argument `stateful`. Expected a "
                       "next-token model trained on a corpus.*preset='ntm_copy'"):
        training.train(tmp_path / "task", preset="ntm_copy", stateful=True,
                       steps=2)
    with pytest.raises(ValueError, match="argument `stateful`. Stateful "
                       "training runs on one machine .* so far. Received: "
                       "stateful=True with a CentralStorageStrategy"):
        training.train(
            tmp_path / "central", preset="lstm_lm_tiny", stateful=True,
            steps=2,
            strategy=tf.distribute.experimental.CentralStorageStrategy())
    with pytest.raises(ValueError, match="argument `stateful`. Expected True, "
                       "False or None .*Received: stateful='yes'"):
        training.TrainingConfig(stateful="yes")
    with pytest.raises(ValueError, match="argument `stream_length`. Expected a "
                       "multiple of sequence_length=128, or 0 for whole "
                       "documents. Received: "
                       "stream_length=200"):
        training.TrainingConfig(stateful=True, sequence_length=128,
                                stream_length=200)
    assert not os.path.exists(tmp_path / "task")


def test_stateful_by_default_where_the_family_measured_it_better(corpus):
    choose = training.stateful_choice
    assert choose(None, "lstm_lm_tiny", corpus) is True
    assert choose(None, "biglm_tiny", corpus) is False
    # Where it cannot: a memory task's examples, workers that split a batch.
    assert choose(None, "lstm_lm_tiny", "copy:length=2,distance=4") is False
    assert choose(None, "lstm_lm_tiny", corpus,
                  tf.distribute.experimental.CentralStorageStrategy()) is False
    assert choose(False, "lstm_lm_tiny", corpus) is False
    assert choose(True, "biglm_tiny", corpus) is True
