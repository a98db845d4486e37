"""The SavedModel export, checked the way TF Serving and its clients see it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import memzoo
from memzoo import cli

# Run in a fresh interpreter that cannot import memzoo: a server has none.
NO_MEMZOO = "import sys; sys.modules['memzoo'] = None\n"

CLIENT_SCRIPT = NO_MEMZOO + """
import json, threading
import numpy as np
import tensorflow as tf

served = tf.saved_model.load(sys.argv[1])
signatures = served.signatures
ids = tf.constant(np.random.default_rng(0).integers(3, 250, (2, 50)), tf.int32)
whole = signatures["serving_default"](token_ids=ids)["logits"].numpy()

# Streaming: chunks of 17, 1 and 32 tokens, the state sent back each time.
state = signatures["initial_state"](batch_size=tf.constant(2))
pieces, start = [], 0
for size in (17, 1, 32):
    reply = signatures["step"](token_ids=ids[:, start:start + size], **state)
    pieces.append(reply.pop("logits").numpy())
    state, start = reply, start + size
streamed = np.concatenate(pieces, axis=1)

texts = signatures["generate"](prompt=tf.constant(["To be", "Hello there"]),
                               max_new_tokens=tf.constant(6))["text"].numpy()
sampled = [signatures["generate_sampled"](
    prompt=tf.constant(["To be"]), max_new_tokens=tf.constant(6),
    temperature=tf.constant(0.8), top_k=tf.constant(5), seed=tf.constant(seed),
)["text"].numpy()[0] for seed in (1, 1, 2)]

results = [None] * 4
def call(index):
    results[index] = signatures["serving_default"](token_ids=ids)["logits"].numpy()
threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()

errors = {}
for name, request in [
    ("outside_vocabulary", lambda: signatures["serving_default"](
        token_ids=tf.constant([[3, 100000]]))),
    ("wrong_dtype", lambda: signatures["serving_default"](
        token_ids=tf.constant([[3.0, 4.0]]))),
    ("negative_max_new_tokens", lambda: signatures["generate"](
        prompt=tf.constant(["x"]), max_new_tokens=tf.constant(-1))),
]:
    try:
        request()
        errors[name] = None
    except Exception as error:
        errors[name] = f"{type(error).__name__}: {error}"

print(json.dumps({
    "signatures": sorted(signatures),
    "logits_shape": list(whole.shape),
    "streamed_difference": float(np.max(np.abs(streamed - whole))),
    "texts": [t.decode("utf-8", "replace") for t in texts],
    "sampled": [t.decode("utf-8", "replace") for t in sampled],
    "threads_difference": max(float(np.max(np.abs(r - whole))) for r in results),
    "errors": errors,
}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = memzoo.BigLanguageModel.from_preset(
        "biglm_tiny", working_memory=8, long_short_term_memory=2, num_layers=1)
    base = tmp_path_factory.mktemp("exports") / "biglm"
    return model, memzoo.export_saved_model(model, str(base))


@pytest.mark.slow
def test_every_signature_works_without_memzoo(exported):
    model, path = exported
    assert path.endswith(os.path.join("biglm", "1"))
    result = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, path],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["signatures"] == ["generate", "generate_sampled", "initial_state",
                                    "serving_default", "step"]
    assert report["logits_shape"] == [2, 50, 259]
    assert report["streamed_difference"] < 1e-4
    assert report["threads_difference"] == 0.0
    # Greedy text from the server is what the model itself generates.
    assert report["texts"] == model.generate(["To be", "Hello there"], 6)
    assert report["sampled"][0] == report["sampled"][1]
    assert all(text.startswith("To be") for text in report["sampled"])
    errors = report["errors"]
    assert "InvalidArgumentError" in errors["outside_vocabulary"]
    assert "token_ids" in errors["outside_vocabulary"]
    assert errors["wrong_dtype"] is not None
    assert "max_new_tokens" in errors["negative_max_new_tokens"]


@pytest.mark.slow
def test_saved_model_cli_sees_dynamic_shapes_and_runs(exported, tmp_path):
    _, path = exported
    cli_path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli_path, "show", "--dir", path, "--all"],
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for signature in ("serving_default", "initial_state", "step", "generate"):
        assert f"signature_def['{signature}']" in shown.stdout
    assert "shape: (-1, -1)" in shown.stdout  # token_ids: batch and time
    assert "inputs['prompt']" in shown.stdout and "shape: (-1)" in shown.stdout
    token_ids = tmp_path / "token_ids.npy"
    np.save(token_ids, np.array([[5, 6, 7]], dtype=np.int32))
    ran = subprocess.run(
        [cli_path, "run", "--dir", path, "--tag_set", "serve", "--signature_def",
         "serving_default", "--inputs", f"token_ids={token_ids}",
         "--outdir", str(tmp_path), "--overwrite"],
        capture_output=True, text=True, timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert np.load(tmp_path / "logits.npy").shape == (1, 3, 259)


def test_versions_are_numbered_and_never_overwritten(exported, tmp_path):
    model, path = exported
    base = os.path.dirname(path)
    os.makedirs(os.path.join(base, "7"))
    with pytest.raises(ValueError, match="is never overwritten"):
        memzoo.export_saved_model(model, os.path.join(base, "7"))
    with pytest.raises(ValueError, match="`version`.*Received: version=0"):
        memzoo.export_saved_model(model, base, version=0)


def test_export_command_errors_are_one_line(capsys, tmp_path):
    assert cli.main(["export", "--preset", "no_such_preset", "--output",
                     str(tmp_path / "x")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no_such_preset" in error
