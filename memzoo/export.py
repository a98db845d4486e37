"""SavedModel export for TF Serving, with signatures that carry memory.

`export_saved_model` writes TF Serving's layout `BASE/<version>/` through
`keras.export.ExportArchive`, with explicit, named input signatures (a
subclassed model exported without them bakes in the first call's shapes).
The SavedModel needs no memzoo to be served or loaded:

* `serving_default`: `token_ids` int32 `[batch, time]` -> `logits` float32
  `[batch, time, vocab]`.
* `initial_state`: `batch_size` int32 scalar -> every `state_<part>`.
* `step`: `token_ids` and every `state_<part>` -> `logits` and every
  `state_<part>` updated. A client that sends back the state it received
  continues the text exactly as one long call would: memory is carried
  across requests while the server holds no per-client state.
* with a tokenizer, `generate`: `prompt` string `[batch]`, `max_new_tokens`
  int32 scalar -> `text` string `[batch]` (greedy), and `generate_sampled`,
  which also takes `temperature` float32, `top_k` int32 (0: all tokens) and
  `seed` int32 scalars. Tokenization and the decode loop run in the graph;
  bytes that are not valid UTF-8 come back as U+FFFD.

The other zoo models get their own signatures: a `TextClassifier`
`serving_default` (`token_ids` -> `probabilities`) and, with a tokenizer,
`classify` (`text` string `[batch]` -> `probabilities`); a
`Seq2SeqTranslator` `serving_default` (`source_ids`, `target_ids` ->
`logits`) and `translate` (`text`, `max_length` -> `translation`, greedy);
a `NeuralTuringMachine` the token signatures above with `predict` as well;
a `SequenceRegressor` `serving_default` and `predict` (`series` float32
`[batch, time, features]` -> `forecast`), `initial_state` and `step`.

Every export is bounded, so that no request can take the server down
(a `max_new_tokens` of 10^9 would otherwise abort the process on its
allocation): `max_batch_size` (rows of `token_ids`, `series`, `prompt` or
`text`, and `initial_state`'s `batch_size`), `max_input_length` (tokens per
row, after tokenization for strings; steps per row of a series) and
`max_new_tokens` (`generate`'s `max_new_tokens`, `translate`'s
`max_length`) are fixed by `export_saved_model`'s arguments. A request
above one is refused with an `InvalidArgumentError` that names the input,
the limit and the value, checked before the model or a decode loop
allocates anything. The `limits` signature (no inputs) returns the three as
int32 scalars of those names, for gRPC and Python clients (TF Serving's
REST API refuses a signature without inputs; its clients read the limit in
the error). In `step`, the `state_<part>` inputs are the model's
`initial_state`: one of another batch size than `token_ids` is refused with
an error that names both.

Each version also holds `assets.extra/tf_serving_warmup_requests`: one
`PredictionLog` per signature, which TF Serving replays when it loads the
version, so the first client request does not pay for tracing.
"""

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from memzoo.training.run_folder import set_default_permissions
from memzoo.validation import check_integer

# Where TF Serving looks for the requests it replays when loading a version.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def export_saved_model(
    model, export_dir, version=None, tokenizer=None, max_batch_size=64,
    max_input_length=4096, max_new_tokens=1024,
):
    """Writes `model` as a SavedModel in TF Serving's layout.

    Args:
        model: a memzoo language model (built or not).
        export_dir: str. The model's base folder (`exports/biglm_tiny`), or a
            version folder in it (`exports/biglm_tiny/3`).
        version: int or `None`. The version to write; `None` takes the one
            in `export_dir` or 1 + the highest present. An existing version
            is never overwritten.
        tokenizer: `None` (the model's own, if any), `"byte"` or a
            tokenizer; with one, the `generate` signatures are added.
        max_batch_size: int. The most rows a request may have (and the
            most `batch_size` of `initial_state`).
        max_input_length: int. The most tokens (a series: steps) per row of
            a request, prompts and texts counted after tokenization.
        max_new_tokens: int. The most `max_new_tokens` of `generate` and
            `max_length` of `translate`.

    Returns:
        The version folder written.

    Example:

    ```python
    import tempfile

    model = memzoo.LSTMLanguageModel.from_preset("lstm_lm_tiny")
    path = memzoo.export_saved_model(model, tempfile.mkdtemp() + "/lstm_lm_tiny")
    served = tf.saved_model.load(path)   # path ends in /1
    served.signatures["generate"](prompt=tf.constant(["To be"]),
                                  max_new_tokens=tf.constant(8))
    ```
    """
    limits = {
        "max_batch_size": check_integer("max_batch_size", max_batch_size),
        "max_input_length": check_integer("max_input_length", max_input_length),
        "max_new_tokens": check_integer("max_new_tokens", max_new_tokens),
    }
    version_dir = _version_dir(export_dir, version)
    # Built for inputs of any batch and length, the shapes SavedModel
    # traces the model's own call with.
    model.build_from_signature()
    archive = keras.export.ExportArchive()
    archive.track(model)
    warmup_requests = model.add_serving_endpoints(archive, limits, tokenizer)
    archive.add_endpoint(
        "limits",
        lambda: {name: tf.constant(value, tf.int32) for name, value in limits.items()},
        input_signature=[],
    )
    warmup_requests["limits"] = {}

    # Written beside the versions and renamed, so TF Serving, which polls
    # the base folder, never loads a half-written version.
    base = os.path.dirname(version_dir)
    os.makedirs(base, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=base)
    try:
        archive.write_out(staging, verbose=False)
        _write_warmup_requests(
            os.path.join(staging, WARMUP_FILE),
            model_name=os.path.basename(base),
            requests=warmup_requests,
        )
        set_default_permissions(staging, 0o777)
        os.rename(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir


def _write_warmup_requests(path, model_name, requests):
    """Writes TF Serving's warm-up file: a TFRecord of `PredictionLog`s."""
    # Imported here: `import memzoo` does not need TF Serving's protos.
    from tensorflow_serving.apis import model_pb2
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name,
                                               signature_name=signature_name)
            )
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())


def _version_dir(export_dir, version):
    export_dir = os.fspath(export_dir)
    name = os.path.basename(os.path.normpath(export_dir))
    if version is None and name.isdigit():
        export_dir, version = os.path.dirname(os.path.normpath(export_dir)), int(name)
    if version is None:
        present = [
            int(entry) for entry in (os.listdir(export_dir) if os.path.isdir(export_dir) else [])
            if re.fullmatch(r"\d+", entry)
        ]
        version = max(present, default=0) + 1
    version = check_integer("version", version)
    version_dir = os.path.join(export_dir, str(version))
    if os.path.exists(version_dir):
        raise ValueError(
            f"Invalid value for argument `version`: {version_dir} exists, and an "
            "exported version is never overwritten. Choose another version, "
            "or leave it out to take the next one."
        )
    return version_dir
