"""The SavedModel export, checked the way TF Serving and its clients see it."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo
from memzoo import cli

# Run in a fresh interpreter that cannot import memzoo: a server has none.
NO_MEMZOO = "import sys; sys.modules['memzoo'] = None\n"

# Sends each bad request, then the good ones again: each bad one must be
# refused with an error, and the same process must still answer as before.
SEND_BAD_REQUESTS = """
import numpy as np

def send_bad_requests(bad_requests, good_requests):
    expected = good_requests()
    errors, answered_after = {}, {}
    for name, request in bad_requests.items():
        try:
            request()
            errors[name] = None
        except Exception as error:
            errors[name] = f"{type(error).__name__}: {error}"
        answered_after[name] = all(
            np.array_equal(answer, before)
            for answer, before in zip(good_requests(), expected))
    return errors, answered_after
"""

CLIENT_SCRIPT = NO_MEMZOO + SEND_BAD_REQUESTS + """
import json, os, threading
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

path = sys.argv[1]
served = tf.saved_model.load(path)
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

# What TF Serving does with a PredictRequest: the signature on its inputs.
def answer(request):
    inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
    outputs = signatures[request.model_spec.signature_name](**inputs)
    response = predict_pb2.PredictResponse(model_spec=request.model_spec)
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response

# The warm-up requests TF Serving replays when it loads the version.
warmed = []
warmup_file = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
for record in tf.data.TFRecordDataset(warmup_file):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    warmed.append([request.model_spec.signature_name, sorted(answer(request).outputs)])

# A request as a gRPC client builds it.
request = predict_pb2.PredictRequest()
request.model_spec.name = "biglm"
request.model_spec.signature_name = "generate"
request.inputs["prompt"].CopyFrom(tf.make_tensor_proto(["To be", "Hello there"]))
request.inputs["max_new_tokens"].CopyFrom(tf.make_tensor_proto(6, dtype=tf.int32))
predicted = tf.make_ndarray(answer(request).outputs["text"])

# Keras 3 and tf-keras (Keras 2) models using the export as a layer.
import keras
keras_logits = keras.layers.TFSMLayer(path, call_endpoint="serving_default")(ids)["logits"]
import tensorflow_hub as hub
import tf_keras
token_ids = tf_keras.Input(shape=(None,), dtype="int32")
served_layer = hub.KerasLayer(path, signature="serving_default",
                              signature_outputs_as_dict=True)
consumer = tf_keras.Model(token_ids, tf_keras.layers.Softmax()(served_layer(token_ids)["logits"]))
probabilities = consumer.predict(ids.numpy(), verbose=0)

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

# Requests above the export's limits, each followed by good ones.
ones = lambda *shape: tf.ones(shape, tf.int32)
generate = lambda prompt, max_new_tokens: signatures["generate"](
    prompt=tf.constant(prompt), max_new_tokens=tf.constant(max_new_tokens))
fresh_state = signatures["initial_state"](batch_size=tf.constant(2))
refused, answered_after = send_bad_requests({
    "max_new_tokens_1e9": lambda: generate(["To be"], 1_000_000_000),
    "sampled_max_new_tokens_1e6": lambda: signatures["generate_sampled"](
        prompt=tf.constant(["To be"]), max_new_tokens=tf.constant(1_000_000),
        temperature=tf.constant(1.0), top_k=tf.constant(0), seed=tf.constant(0)),
    "prompts_above_batch_limit": lambda: generate(["x"] * 65, 1),
    # With the start token, 4097 tokens.
    "prompt_above_length_limit": lambda: generate(["x" * 4096], 1),
    "no_prompt": lambda: generate(np.array([], str), 1),
    "token_ids_above_batch_limit": lambda: signatures["serving_default"](
        token_ids=ones(65, 1)),
    "token_ids_above_length_limit": lambda: signatures["serving_default"](
        token_ids=ones(1, 4097)),
    "step_above_length_limit": lambda: signatures["step"](
        token_ids=ones(2, 4097), **fresh_state),
    "step_with_a_state_of_another_batch": lambda: signatures["step"](
        token_ids=ones(3, 2), **fresh_state),
    "batch_size_0": lambda: signatures["initial_state"](batch_size=tf.constant(0)),
    "batch_size_above_limit": lambda: signatures["initial_state"](
        batch_size=tf.constant(65)),
}, lambda: [generate(["To be"], 4)["text"].numpy(),
            signatures["serving_default"](token_ids=ones(1, 3))["logits"].numpy()])

print(json.dumps({
    "limits": {name: int(value) for name, value in signatures["limits"]().items()},
    "refused": {"errors": refused, "answered_after": answered_after},
    "signatures": sorted(signatures),
    "logits_shape": list(whole.shape),
    "streamed_difference": float(np.max(np.abs(streamed - whole))),
    # Strict decoding: the served text is always valid UTF-8.
    "texts": [t.decode("utf-8") for t in texts],
    "sampled": [t.decode("utf-8") for t in sampled],
    "threads_difference": max(float(np.max(np.abs(r - whole))) for r in results),
    "errors": errors,
    "warmed": warmed,
    "predicted": [t.decode("utf-8") for t in predicted],
    "keras_difference": float(np.max(np.abs(keras_logits.numpy() - whole))),
    "tf_keras_difference": float(np.max(np.abs(
        probabilities - tf.nn.softmax(whole).numpy()))),
}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = memzoo.BigLanguageModel.from_preset(
        "biglm_tiny", working_memory=8, long_short_term_memory=2, num_layers=1)
    base = tmp_path_factory.mktemp("exports") / "biglm"
    return model, memzoo.export_saved_model(model, str(base))


@pytest.fixture(scope="module")
def client_report(exported):
    """What `CLIENT_SCRIPT`, in a process that cannot import memzoo, got
    from the export: one process loads it once for the tests below."""
    _, path = exported
    result = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, path],
                            capture_output=True, text=True, timeout=600)
    # A request that allocated without bound would abort the process (134).
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_signature_works_without_memzoo(exported, client_report):
    model, path = exported
    assert path.endswith(os.path.join("biglm", "1"))
    report = client_report
    assert report["signatures"] == ["generate", "generate_sampled", "initial_state",
                                    "limits", "serving_default", "step"]
    # One warm-up request per signature, each answered with its outputs.
    assert sorted(name for name, _ in report["warmed"]) == report["signatures"]
    outputs = dict(report["warmed"])
    assert outputs["serving_default"] == ["logits"]
    assert outputs["step"] == ["logits", *outputs["initial_state"]]
    assert outputs["generate"] == ["text"]
    assert outputs["limits"] == ["max_batch_size", "max_input_length", "max_new_tokens"]
    assert report["logits_shape"] == [2, 50, 259]
    assert report["streamed_difference"] < 1e-4
    assert report["threads_difference"] == 0.0
    # Greedy text from the server is what the model itself generates.
    assert report["texts"] == model.generate(["To be", "Hello there"], 6)
    assert report["predicted"] == report["texts"]
    assert report["keras_difference"] == 0.0
    assert report["tf_keras_difference"] < 1e-6
    assert report["sampled"][0] == report["sampled"][1]
    assert all(text.startswith("To be") for text in report["sampled"])
    errors = report["errors"]
    assert "InvalidArgumentError" in errors["outside_vocabulary"]
    assert "token_ids" in errors["outside_vocabulary"]
    assert "expected to be a int32 tensor but is a float" in errors["wrong_dtype"]
    assert "max_new_tokens" in errors["negative_max_new_tokens"]


# What the client reads in each refusal, after "InvalidArgumentError".
LIMIT = r" \(the export limit `{}`, which the `limits` signature returns\)"
REFUSALS = {
    "max_new_tokens_1e9": r"Invalid value for input `max_new_tokens`. Expected an integer "
                          r"from 0 to 1024" + LIMIT.format("max_new_tokens")
                          + r". Received: max_new_tokens=\] \[1000000000\]",
    "sampled_max_new_tokens_1e6": r"`max_new_tokens`. Expected an integer from 0 to 1024"
                                  r".*Received: max_new_tokens=\] \[1000000\]",
    "prompts_above_batch_limit": r"Invalid value for input `prompt`. Expected from 1 to 64 "
                                 r"texts" + LIMIT.format("max_batch_size")
                                 + r". Received:\] \[65\] \[texts\]",
    "prompt_above_length_limit": r"`prompt`. Expected at most 4096 tokens per text"
                                 + LIMIT.format("max_input_length")
                                 + r". Received:\] \[4097\] \[tokens per text\]",
    "no_prompt": r"`prompt`. Expected from 1 to 64 texts.*Received:\] \[0\] \[texts\]",
    "token_ids_above_batch_limit": r"Invalid value for input `token_ids`. Expected at most "
                                   r"64 rows" + LIMIT.format("max_batch_size")
                                   + r". Received:\] \[65\] \[rows\]",
    "token_ids_above_length_limit": r"`token_ids`. Expected at most 4096 tokens per row"
                                    + LIMIT.format("max_input_length")
                                    + r". Received:\] \[4097\] \[tokens per row\]",
    "step_above_length_limit": r"`token_ids`. Expected at most 4096 tokens per row.*"
                               r"Received:\] \[4097\]",
    "step_with_a_state_of_another_batch": r"Invalid value for argument `initial_state`. "
                                          r"Expected a state for the batch size of "
                                          r"`token_ids`. Received: a state for batch size"
                                          r"\] \[2\] \[and `token_ids` of batch size\] \[3\]",
    "batch_size_0": r"Invalid value for input `batch_size`. Expected an integer from 1 to "
                    r"64" + LIMIT.format("max_batch_size") + r". Received: batch_size=\] \[0\]",
    "batch_size_above_limit": r"`batch_size`. Expected an integer from 1 to 64.*"
                              r"Received: batch_size=\] \[65\]",
}


def assert_refused_and_answered_after(report, refusals):
    """Each bad request of a client script's `report` got the error its
    `refusals` pattern names, and the process answered correctly after it."""
    assert sorted(report["errors"]) == sorted(refusals)
    for name, refusal in refusals.items():
        error = report["errors"][name]
        assert error and error.startswith("InvalidArgumentError"), (name, error)
        assert re.search(refusal, error), (name, error)
    assert all(report["answered_after"].values()), report["answered_after"]


@pytest.mark.slow
def test_requests_above_the_limits_are_refused_and_the_server_lives_on(client_report):
    assert client_report["limits"] == {"max_batch_size": 64, "max_input_length": 4096,
                                       "max_new_tokens": 1024}
    assert_refused_and_answered_after(client_report["refused"], REFUSALS)


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


def _saved_model_proto(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    return saved_model


def test_export_command_writes_the_preset(capsys, tmp_path):
    # The LSTM preset traces its decode loop in a fraction of the memory
    # model's time; the command does the same for both.
    base = tmp_path / "lstm_lm_tiny"
    assert cli.main(["export", "--preset", "lstm_lm_tiny", "--output", str(base),
                     "--version", "3", "--max-new-tokens", "8",
                     "--max-batch-size", "2"]) == 0
    assert capsys.readouterr().out.strip() == f"exported: {base / '3'}"
    assert sorted(os.listdir(base)) == ["3"]  # no staging folder left behind
    signatures = _saved_model_proto(base / "3").meta_graphs[0].signature_def
    assert {"serving_default", "initial_state", "step", "generate",
            "generate_sampled", "limits"} <= set(signatures)
    assert os.path.getsize(base / "3" / "assets.extra" / "tf_serving_warmup_requests")
    served = tf.saved_model.load(str(base / "3")).signatures
    limits = {name: int(value) for name, value in served["limits"]().items()}
    # The limit left out keeps its default.
    assert limits == {"max_batch_size": 2, "max_input_length": 4096,
                      "max_new_tokens": 8}
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`max_new_tokens`. Expected an integer from 0 to 8 "):
        served["generate"](prompt=tf.constant(["x"]), max_new_tokens=tf.constant(9))


def test_export_command_errors_are_one_line(capsys, tmp_path):
    assert cli.main(["export", "--preset", "no_such_preset", "--output",
                     str(tmp_path / "x")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no_such_preset" in error


def test_mixed_precision_model_serves_float32_without_xla(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
        model.compile(jit_compile=True)
    finally:
        keras.config.set_dtype_policy(previous)
    path = memzoo.export_saved_model(model, str(tmp_path / "lstm"))
    served = tf.saved_model.load(path)
    logits = served.signatures["serving_default"](token_ids=tf.constant([[5, 6, 7]]))
    assert logits["logits"].dtype == tf.float32
    # No function must be XLA-compiled: TF Serving builds without XLA serve it.
    functions = _saved_model_proto(path).meta_graphs[0].graph_def.library.function
    assert functions
    assert not any(f.attr["_XlaMustCompile"].b for f in functions
                   if "_XlaMustCompile" in f.attr)
    # The version folder is readable by a server running as another user.
    assert os.stat(path).st_mode & 0o055 == 0o055 & ~_umask()


def _umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_readme_rest_client_runs_against_the_export(exported, monkeypatch, capsys):
    import urllib.request

    from tests.test_readme import readme_block
    from tests.tf_serving_rest import FakeRestServer

    model, path = exported
    server = FakeRestServer(path)
    monkeypatch.setattr(urllib.request, "urlopen", server.urlopen)
    exec(readme_block("python", "URL = "), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == repr(model.generate(["ROMEO:"], 40))
    # The state carried through three step requests gives the logits of one
    # call on the whole text.
    text = "ROMEO: But soft! What light"
    whole = model(np.array([[byte + 3 for byte in text.encode()]]))
    last_step = server.exchanges[-1][1]["outputs"]
    np.testing.assert_allclose(last_step["logits"][0][-1], whole[0, -1], atol=1e-4)
    assert printed[1] == repr(bytes([int(np.argmax(whole[0, -1, 3:]))]))
    assert [request["signature_name"] for request, _ in server.exchanges] == [
        "generate", "initial_state", "step", "step", "step"]


def test_readme_tf_keras_layer_and_models_config(exported):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from tests.test_readme import readme_block

    model, path = exported
    namespace = {}
    exec(readme_block("python", "tf_keras").replace("exports/biglm_tiny/1", path),
         namespace)
    ids = np.array([[5, 6, 7, 8]], np.int32)
    np.testing.assert_allclose(namespace["probabilities"].predict(ids, verbose=0),
                               keras.ops.softmax(model(ids)), atol=1e-6)
    config = text_format.Parse(readme_block("protobuf", "model_config_list"),
                               model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path) == ("biglm_tiny", "/models/biglm_tiny")


ZOO_CLIENT_SCRIPT = NO_MEMZOO + SEND_BAD_REQUESTS + """
import json
import tensorflow as tf

paths = json.loads(sys.argv[1])
load = lambda name: tf.saved_model.load(paths[name]).signatures
classifier, translator = load("classifier"), load("translator")
machine, forecaster = load("machine"), load("forecaster")
ids = tf.constant([[5, 6, 7, 8]], tf.int32)
series = tf.constant(np.linspace(-1, 1, 24, dtype="float32").reshape(2, 12, 1))
state = forecaster["initial_state"](batch_size=tf.constant(2))
first = forecaster["step"](series=series[:, :5], **state)
first.pop("forecast")
streamed = forecaster["step"](series=series[:, 5:], **first)["forecast"]
try:
    translator["translate"](text=tf.constant(["x"]), max_length=tf.constant(0))
    bad_max_length = None
except Exception as error:
    bad_max_length = str(error)
ones = lambda *shape: tf.ones(shape, tf.int32)
errors, answered_after = send_bad_requests({
    "classify_above_batch_limit": lambda: classifier["classify"](
        text=tf.constant(["x"] * 65)),
    "classify_above_length_limit": lambda: classifier["classify"](
        text=tf.constant(["x" * 4097])),
    "classifier_token_ids_above_length_limit": lambda: classifier["serving_default"](
        token_ids=ones(1, 4097)),
    "translate_above_max_length_limit": lambda: translator["translate"](
        text=tf.constant(["x"]), max_length=tf.constant(1025)),
    "translate_above_length_limit": lambda: translator["translate"](
        text=tf.constant(["x" * 4097]), max_length=tf.constant(8)),
    "translator_ids_above_batch_limit": lambda: translator["serving_default"](
        source_ids=ones(65, 1), target_ids=ones(65, 1)),
    "machine_above_batch_limit": lambda: machine["predict"](token_ids=ones(65, 1)),
    "machine_step_with_a_state_of_another_batch": lambda: machine["step"](
        token_ids=ones(3, 1), **machine["initial_state"](batch_size=tf.constant(2))),
    "forecast_above_length_limit": lambda: forecaster["predict"](
        series=tf.zeros([1, 4097, 1])),
    "forecaster_step_with_a_state_of_another_batch": lambda: forecaster["step"](
        series=series[:1], **state),
}, lambda: [
    classifier["classify"](text=tf.constant(["good"]))["probabilities"].numpy(),
    translator["translate"](text=tf.constant(["Open file"]),
                            max_length=tf.constant(8))["translation"].numpy(),
    machine["predict"](token_ids=ids)["logits"].numpy(),
    forecaster["predict"](series=series)["forecast"].numpy(),
])
print(json.dumps({
    "signatures": {name: sorted(load(name)) for name in paths},
    "classify": classifier["classify"](text=tf.constant(["good", "bad day"]))["probabilities"].numpy().tolist(),
    "translate": [t.decode() for t in translator["translate"](
        text=tf.constant(["Open file"]), max_length=tf.constant(8))["translation"].numpy()],
    "machine": machine["predict"](token_ids=ids)["logits"].numpy().tolist(),
    "forecast": forecaster["predict"](series=series)["forecast"].numpy().tolist(),
    "streamed": streamed.numpy().tolist(),
    "bad_max_length": bad_max_length,
    "errors": errors,
    "answered_after": answered_after,
}))
"""

ZOO_REFUSALS = {
    "classify_above_batch_limit": r"input `text`. Expected at most 64 texts.*\[65\]",
    "classify_above_length_limit": r"input `text`. Expected at most 4096 tokens per text"
                                   r".*\[4097\]",
    "classifier_token_ids_above_length_limit": r"input `token_ids`. Expected at most 4096 "
                                               r"tokens per row.*\[4097\]",
    "translate_above_max_length_limit": r"input `max_length`. Expected an integer from 1 to "
                                        r"1024" + LIMIT.format("max_new_tokens")
                                        + r".*\[1025\]",
    "translate_above_length_limit": r"input `text`. Expected at most 4096 tokens per text"
                                    r".*\[4097\]",
    "translator_ids_above_batch_limit": r"input `(source|target)_ids`. Expected at most 64 "
                                        r"rows.*\[65\]",
    "machine_above_batch_limit": r"input `token_ids`. Expected at most 64 rows.*\[65\]",
    "machine_step_with_a_state_of_another_batch": r"`initial_state`.*batch size\] \[2\] "
                                                  r"\[and `token_ids` of batch size\] \[3\]",
    "forecast_above_length_limit": r"input `series`. Expected at most 4096 steps per row"
                                   r".*\[4097\]",
    "forecaster_step_with_a_state_of_another_batch": r"`initial_state`.*batch size\] "
                                                     r"\[2\] \[and `series` of batch "
                                                     r"size\] \[1\]",
}


@pytest.mark.slow
def test_the_other_zoo_models_export_their_signatures(tmp_path):
    models = {
        "classifier": memzoo.TextClassifier(259, 8, 16, 3, tokenizer="byte"),
        "translator": memzoo.Seq2SeqTranslator.from_preset("translator_tiny"),
        "machine": memzoo.NeuralTuringMachine(
            memory_size=4, memory_width=4, controller_units=8),
        "forecaster": memzoo.SequenceRegressor(units=8, output_steps=2),
    }
    paths = {name: memzoo.export_saved_model(model, str(tmp_path / name))
             for name, model in models.items()}
    result = subprocess.run([sys.executable, "-c", ZOO_CLIENT_SCRIPT, json.dumps(paths)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["signatures"] == {
        "classifier": ["classify", "limits", "serving_default"],
        "translator": ["limits", "serving_default", "translate"],
        "machine": ["initial_state", "limits", "predict", "serving_default", "step"],
        "forecaster": ["initial_state", "limits", "predict", "serving_default", "step"],
    }
    np.testing.assert_allclose(
        report["classify"], models["classifier"].classify(["good", "bad day"]), atol=1e-6)
    assert report["translate"] == models["translator"].translate(["Open file"], max_length=8)
    np.testing.assert_allclose(
        report["machine"], models["machine"](np.array([[5, 6, 7, 8]])), atol=1e-5)
    series = np.linspace(-1, 1, 24, dtype="float32").reshape(2, 12, 1)
    np.testing.assert_allclose(report["forecast"], models["forecaster"](series), atol=1e-5)
    # The forecaster's state carried across two requests: the same forecast.
    np.testing.assert_allclose(report["streamed"], report["forecast"], atol=1e-5)
    assert "max_length" in report["bad_max_length"]
    # Each model refuses requests above its limits and answers the next ones.
    assert_refused_and_answered_after(report, ZOO_REFUSALS)
