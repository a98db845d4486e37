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
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from memzoo import generation
from memzoo.data import get_tokenizer
from memzoo.models import LanguageModel
from memzoo.models import Seq2SeqTranslator
from memzoo.models import SequenceRegressor
from memzoo.models import TextClassifier
from memzoo.training import set_default_permissions
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
    if not model.built:
        # Token ids, a pair of them for a translator (the shapes SavedModel
        # traces the model's own call with), or a one-feature series.
        if isinstance(model, Seq2SeqTranslator):
            model.build(((None, None), (None, None)))
        else:
            model.build((None, None, 1) if isinstance(model, SequenceRegressor)
                        else (None, None))
    archive = keras.export.ExportArchive()
    archive.track(model)
    if isinstance(model, TextClassifier):
        warmup_requests = _add_classifier_endpoints(archive, model, limits)
    elif isinstance(model, Seq2SeqTranslator):
        warmup_requests = _add_translator_endpoints(archive, model, limits)
    else:
        warmup_requests = _add_stateful_endpoints(archive, model, tokenizer, limits)
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


def _add_stateful_endpoints(archive, model, tokenizer, limits):
    """A model that carries state: the language models, the Neural Turing
    Machine (token ids) and the forecaster (a float series `[batch, time,
    features]` -> `forecast`)."""
    if tokenizer is None:
        tokenizer = getattr(model, "tokenizer", None)
    tokenizer = get_tokenizer(tokenizer)
    series = isinstance(model, SequenceRegressor)

    state_spec = {
        f"state_{name}": tf.TensorSpec([None, *value.shape[1:]], value.dtype,
                                       name=f"state_{name}")
        for name, value in model.get_initial_state(1).items()
    }
    if series:
        inputs_name, outputs_name = "series", "forecast"
        inputs_spec = tf.TensorSpec([None, None, model.features], tf.float32,
                                    name="series")
    else:
        inputs_name, outputs_name = "token_ids", "logits"
        inputs_spec = tf.TensorSpec([None, None], tf.int32, name="token_ids")

    def as_model_state(inputs):
        return {name[len("state_"):]: inputs[name] for name in state_spec}

    def serving_default(inputs):
        inputs = _checked_rows(inputs, inputs_name, limits)
        return {outputs_name: _float32(model(inputs, training=False))}

    def initial_state(batch_size):
        batch_size = _after([_assert_in_range(
            batch_size, 1, limits["max_batch_size"], "batch_size", "max_batch_size",
        )], batch_size)
        state = model.get_initial_state(batch_size)
        return {f"state_{name}": value for name, value in state.items()}

    def step(inputs):
        rows = _checked_rows(inputs[inputs_name], inputs_name, limits)
        # Checked here too, for an error that names the served input (a
        # forecaster's own names it `inputs`).
        state = model._check_state(as_model_state(inputs), tf.shape(rows)[0],
                                   inputs_name)
        outputs, state = model(rows, initial_state=state, return_state=True,
                               training=False)
        outputs = {outputs_name: _float32(outputs)}
        outputs.update({f"state_{name}": value for name, value in state.items()})
        return outputs

    archive.add_endpoint("serving_default", serving_default,
                         input_signature=[inputs_spec])
    if not isinstance(model, LanguageModel):
        # The name clients of a forecaster or a Neural Turing Machine use.
        archive.add_endpoint("predict", serving_default, input_signature=[inputs_spec])
    archive.add_endpoint(
        "initial_state", initial_state,
        input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")],
    )
    archive.add_endpoint("step", step,
                         input_signature=[{inputs_name: inputs_spec, **state_spec}])
    generates = tokenizer is not None and isinstance(model, LanguageModel)
    if generates:
        _add_generate_endpoints(archive, model, tokenizer, limits)

    # One request per signature, with inputs that every vocabulary accepts.
    warmup_ids = (np.zeros([1, 8, model.features], np.float32) if series
                  else np.ones([1, 8], np.int32))
    warmup_state = {
        f"state_{name}": keras.ops.convert_to_numpy(value)
        for name, value in model.get_initial_state(1).items()
    }
    warmup_requests = {
        "serving_default": {inputs_name: warmup_ids},
        "initial_state": {"batch_size": np.int32(1)},
        "step": {inputs_name: warmup_ids, **warmup_state},
    }
    if not isinstance(model, LanguageModel):
        warmup_requests["predict"] = {inputs_name: warmup_ids}
    if generates:
        generate_inputs = {"prompt": np.array([b"Hello"]), "max_new_tokens": np.int32(4)}
        warmup_requests["generate"] = generate_inputs
        warmup_requests["generate_sampled"] = {
            **generate_inputs,
            "temperature": np.float32(1.0),
            "top_k": np.int32(0),
            "seed": np.int32(0),
        }
    return warmup_requests


def _add_classifier_endpoints(archive, model, limits):
    """`serving_default` (token ids -> probabilities) and, with a tokenizer,
    `classify` (strings -> probabilities)."""
    token_ids_spec = tf.TensorSpec([None, None], tf.int32, name="token_ids")
    archive.add_endpoint(
        "serving_default",
        lambda token_ids: {"probabilities": _float32(model(
            _checked_rows(token_ids, "token_ids", limits), training=False))},
        input_signature=[token_ids_spec],
    )
    requests = {"serving_default": {"token_ids": np.ones([1, 8], np.int32)}}
    if model.tokenizer is not None:
        if model.text_vectorization is not None:
            # The word lookup table is not one of the model's layers.
            if not model.text_vectorization.built:
                model.text_vectorization.build((None,))
            archive.track(model.text_vectorization)

        def classify(text):
            # Tokenized once more for the check, which `classify` (and its
            # model call) then waits for.
            if model.text_vectorization is None:
                lengths = get_tokenizer(model.tokenizer).tokenize(text).row_lengths()
            else:
                # The words the vocabulary looks up (0 pads the rows).
                lengths = tf.math.count_nonzero(model.text_vectorization(text), axis=1)
            text = _checked_texts(text, lengths, "text", limits)
            return {"probabilities": _float32(model.classify(text))}

        archive.add_endpoint(
            "classify", classify,
            input_signature=[tf.TensorSpec([None], tf.string, name="text")],
        )
        requests["classify"] = {"text": np.array([b"Hello"])}
    return requests


def _add_translator_endpoints(archive, model, limits):
    """`serving_default` (source ids, target ids -> logits) and, with a
    tokenizer, `translate` (strings -> strings, greedy)."""
    def serving_default(source_ids, target_ids):
        source_ids = _checked_rows(source_ids, "source_ids", limits)
        target_ids = _checked_rows(target_ids, "target_ids", limits)
        return {"logits": _float32(model((source_ids, target_ids), training=False))}

    archive.add_endpoint(
        "serving_default", serving_default,
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids"),
                         tf.TensorSpec([None, None], tf.int32, name="target_ids")],
    )
    ones = np.ones([1, 8], np.int32)
    requests = {"serving_default": {"source_ids": ones, "target_ids": ones}}
    if model.tokenizer is not None:
        def translate(text, max_length):
            # Tokenized once more for the check, which decoding waits for.
            lengths = get_tokenizer(model.tokenizer).tokenize(text).row_lengths()
            text = _checked_texts(text, lengths, "text", limits)
            max_length = _after([_assert_in_range(
                max_length, 1, limits["max_new_tokens"], "max_length", "max_new_tokens",
            )], max_length)
            return {"translation": _valid_utf8(model.translate_text(text, 1, max_length))}

        archive.add_endpoint(
            "translate", translate,
            input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                             tf.TensorSpec([], tf.int32, name="max_length")],
        )
        requests["translate"] = {"text": np.array([b"Hello"]),
                                 "max_length": np.int32(8)}
    return requests


def _write_warmup_requests(path, model_name, requests):
    """Writes TF Serving's warm-up file: a TFRecord of `PredictionLog`s."""
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


def _valid_utf8(texts):
    # Whatever bytes a model made, REST clients get JSON strings.
    return tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def _float32(logits):
    return tf.cast(logits, tf.float32)


# Where an error above a limit sends the client. (No apostrophe: an
# assertion's message escapes it.)
_LIMITS_NOTE = "(the export limit `{limit}`, which the `limits` signature returns)"


def _assert_in_range(value, low, high, name, limit):
    """Asserts that the int32 scalar input `name` is in [low, high]."""
    return tf.debugging.Assert((value >= low) & (value <= high), [
        f"Invalid value for input `{name}`. Expected an integer from {low} to "
        f"{high} {_LIMITS_NOTE.format(limit=limit)}. Received: {name}=", value,
    ])


def _assert_count(value, limits, limit, name, unit, minimum=0):
    """Asserts that `value`, a count of `unit` in the input `name`, is at
    most `limits[limit]` (and at least `minimum`)."""
    expected = (f"from {minimum} to {limits[limit]}" if minimum
                else f"at most {limits[limit]}")
    return tf.debugging.Assert((value >= minimum) & (value <= limits[limit]), [
        f"Invalid value for input `{name}`. Expected {expected} {unit} "
        f"{_LIMITS_NOTE.format(limit=limit)}. Received:", value, unit,
    ])


def _after(checks, value):
    """`value`, read only once `checks` passed.

    In a graph an op runs as soon as its inputs exist; through this, the
    model or decode loop that reads `value` cannot start (and allocate)
    before a request above a limit is refused.
    """
    with tf.control_dependencies(checks):
        return tf.identity(value)


def _checked_rows(inputs, name, limits):
    """`inputs` `[batch, time, ...]`, once within `max_batch_size` and
    `max_input_length`."""
    shape = tf.shape(inputs)
    unit = "steps" if inputs.dtype.is_floating else "tokens"
    return _after([
        _assert_count(shape[0], limits, "max_batch_size", name, "rows"),
        _assert_count(shape[1], limits, "max_input_length", name, f"{unit} per row"),
    ], inputs)


def _text_checks(lengths, name, limits, minimum=0):
    """Checks of a batch of texts (at least `minimum`), from their lengths in
    tokens."""
    longest = tf.reduce_max(tf.concat([[0], tf.cast(lengths, tf.int32)], 0))
    return [
        _assert_count(tf.size(lengths), limits, "max_batch_size", name, "texts",
                      minimum),
        _assert_count(longest, limits, "max_input_length", name, "tokens per text"),
    ]


def _checked_texts(text, lengths, name, limits):
    """`text`, once within `max_batch_size` and, by its `lengths` in tokens,
    `max_input_length`."""
    return _after(_text_checks(lengths, name, limits), text)


class _ServingSampler(generation.Sampler):
    """Greedy when `temperature` <= 0, else top-`top_k` sampling (0: all)."""

    def __init__(self, temperature, top_k):
        self.temperature = temperature
        self.top_k = top_k

    def sample(self, logits, seed):
        vocab_size = tf.shape(logits)[-1]
        k = tf.where(self.top_k > 0, tf.minimum(self.top_k, vocab_size), vocab_size)
        kth = tf.reduce_min(tf.math.top_k(logits, k).values, axis=-1, keepdims=True)
        filtered = tf.where(logits >= kth, logits, tf.fill(tf.shape(logits), -1e9))
        scaled = filtered / tf.maximum(self.temperature, 1e-6)
        sampled = tf.random.stateless_categorical(scaled, 1, seed=seed, dtype=tf.int32)[:, 0]
        greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return tf.where(self.temperature > 0, sampled, greedy)


def _add_generate_endpoints(archive, model, tokenizer, limits):
    prompt_spec = tf.TensorSpec([None], tf.string, name="prompt")
    max_new_tokens_spec = tf.TensorSpec([], tf.int32, name="max_new_tokens")

    def generate_text(prompt, max_new_tokens, temperature, top_k, seed):
        ids = tokenizer.tokenize(prompt, add_start=True)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        checks = [
            # An empty batch would leave the decode loop without a length.
            *_text_checks(lengths, "prompt", limits, minimum=1),
            _assert_in_range(max_new_tokens, 0, limits["max_new_tokens"],
                             "max_new_tokens", "max_new_tokens"),
        ]
        # Everything below, the padding to `num_steps` first, waits for them.
        with tf.control_dependencies(checks):
            dense = ids.to_tensor()
            max_new_tokens = tf.identity(max_new_tokens)
        shortest = tf.reduce_min(lengths)
        # As `generate()`: the common prefix in one call, then the rest of
        # longer prompts forced token by token while the others sample.
        num_steps = tf.shape(dense)[1] - shortest + max_new_tokens
        rest = dense[:, shortest:]
        forced = tf.pad(rest, [[0, 0], [0, num_steps - tf.shape(rest)[1]]])
        forced_mask = tf.range(num_steps)[tf.newaxis, :] < (lengths - shortest)[:, tf.newaxis]
        decode = generation._decode_loop(model, _ServingSampler(temperature, top_k))
        new_ids = decode(dense[:, :shortest], forced, forced_mask, seed)
        full = tf.concat([dense[:, :shortest], new_ids], axis=1)
        # Each text ends at its first end-of-text token after the prompt.
        positions = tf.range(tf.shape(full)[1])[tf.newaxis, :]
        after_prompt = positions >= lengths[:, tf.newaxis]
        ends = (full == tokenizer.end_id) & after_prompt
        limit = lengths + max_new_tokens
        first_end = tf.reduce_min(
            tf.where(ends, positions, tf.fill(tf.shape(full), tf.shape(full)[1])), axis=1
        )
        text_lengths = tf.minimum(first_end, limit)
        texts = tokenizer.detokenize(tf.RaggedTensor.from_tensor(full, lengths=text_lengths))
        return {"text": _valid_utf8(texts)}

    archive.add_endpoint(
        "generate",
        lambda prompt, max_new_tokens: generate_text(
            prompt, max_new_tokens, tf.constant(0.0), tf.constant(0), tf.constant(0)
        ),
        input_signature=[prompt_spec, max_new_tokens_spec],
    )
    archive.add_endpoint(
        "generate_sampled",
        generate_text,
        input_signature=[
            prompt_spec,
            max_new_tokens_spec,
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ],
    )
