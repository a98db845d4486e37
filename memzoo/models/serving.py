"""What the families' serving signatures share: limits and carried state.

Every signature a family adds in `add_serving_endpoints()` refuses a request
above the export's limits (`max_batch_size`, `max_input_length`,
`max_new_tokens`) before the model or a decode loop allocates anything, so
that no request can take the server down; `memzoo.export` writes the
archive. These are graph functions: TF Serving runs them without memzoo.
"""

import keras
import numpy as np
import tensorflow as tf


def add_stateful_endpoints(archive, model, limits, outputs_name="logits",
                           predict_alias=False):
    """`serving_default`, `initial_state` and `step` of a model that carries
    state (`get_initial_state()`, `call(..., initial_state=,
    return_state=True)`), on inputs of its `input_signature()`.

    `step` takes the inputs and every `state_<part>` and returns the
    outputs (`outputs_name`) and every `state_<part>` updated, so a client
    that sends back what it received continues as one long call would.
    `predict_alias` adds `predict`, the same as `serving_default`. Returns
    the warm-up requests.
    """
    inputs_spec = model.input_signature()
    inputs_name = inputs_spec.name
    state_spec = {
        f"state_{name}": tf.TensorSpec([None, *value.shape[1:]], value.dtype,
                                       name=f"state_{name}")
        for name, value in model.get_initial_state(1).items()
    }

    def as_model_state(inputs):
        return {name[len("state_"):]: inputs[name] for name in state_spec}

    def serving_default(inputs):
        inputs = checked_rows(inputs, inputs_name, limits)
        return {outputs_name: float32(model(inputs, training=False))}

    def initial_state(batch_size):
        batch_size = after([assert_in_range(
            batch_size, 1, limits["max_batch_size"], "batch_size", "max_batch_size",
        )], batch_size)
        state = model.get_initial_state(batch_size)
        return {f"state_{name}": value for name, value in state.items()}

    def step(inputs):
        rows = checked_rows(inputs[inputs_name], inputs_name, limits)
        # Checked here too, for an error that names the served input (a
        # forecaster's own names it `inputs`).
        state = model._check_state(as_model_state(inputs), tf.shape(rows)[0],
                                   inputs_name)
        outputs, state = model(rows, initial_state=state, return_state=True,
                               training=False)
        outputs = {outputs_name: float32(outputs)}
        outputs.update({f"state_{name}": value for name, value in state.items()})
        return outputs

    archive.add_endpoint("serving_default", serving_default,
                         input_signature=[inputs_spec])
    if predict_alias:
        archive.add_endpoint("predict", serving_default, input_signature=[inputs_spec])
    archive.add_endpoint(
        "initial_state", initial_state,
        input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")],
    )
    archive.add_endpoint("step", step,
                         input_signature=[{inputs_name: inputs_spec, **state_spec}])

    # One request per signature, with inputs that every vocabulary accepts.
    shape = [1, 8, *inputs_spec.shape[2:]]
    warmup_inputs = (np.zeros(shape, np.float32) if inputs_spec.dtype.is_floating
                     else np.ones(shape, inputs_spec.dtype.as_numpy_dtype))
    warmup_state = {
        f"state_{name}": keras.ops.convert_to_numpy(value)
        for name, value in model.get_initial_state(1).items()
    }
    requests = {
        "serving_default": {inputs_name: warmup_inputs},
        "initial_state": {"batch_size": np.int32(1)},
        "step": {inputs_name: warmup_inputs, **warmup_state},
    }
    if predict_alias:
        requests["predict"] = {inputs_name: warmup_inputs}
    return requests


def valid_utf8(texts):
    # Whatever bytes a model made, REST clients get JSON strings.
    return tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def float32(logits):
    return tf.cast(logits, tf.float32)


# Where an error above a limit sends the client. (No apostrophe: an
# assertion's message escapes it.)
LIMITS_NOTE = "(the export limit `{limit}`, which the `limits` signature returns)"


def assert_in_range(value, low, high, name, limit):
    """Asserts that the int32 scalar input `name` is in [low, high]."""
    return tf.debugging.Assert((value >= low) & (value <= high), [
        f"Invalid value for input `{name}`. Expected an integer from {low} to "
        f"{high} {LIMITS_NOTE.format(limit=limit)}. Received: {name}=", value,
    ])


def assert_count(value, limits, limit, name, unit, minimum=0):
    """Asserts that `value`, a count of `unit` in the input `name`, is at
    most `limits[limit]` (and at least `minimum`)."""
    expected = (f"from {minimum} to {limits[limit]}" if minimum
                else f"at most {limits[limit]}")
    return tf.debugging.Assert((value >= minimum) & (value <= limits[limit]), [
        f"Invalid value for input `{name}`. Expected {expected} {unit} "
        f"{LIMITS_NOTE.format(limit=limit)}. Received:", value, unit,
    ])


def after(checks, value):
    """`value`, read only once `checks` passed.

    In a graph an op runs as soon as its inputs exist; through this, the
    model or decode loop that reads `value` cannot start (and allocate)
    before a request above a limit is refused.
    """
    with tf.control_dependencies(checks):
        return tf.identity(value)


def checked_rows(inputs, name, limits):
    """`inputs` `[batch, time, ...]`, once within `max_batch_size` and
    `max_input_length`."""
    shape = tf.shape(inputs)
    unit = "steps" if inputs.dtype.is_floating else "tokens"
    return after([
        assert_count(shape[0], limits, "max_batch_size", name, "rows"),
        assert_count(shape[1], limits, "max_input_length", name, f"{unit} per row"),
    ], inputs)


def text_checks(lengths, name, limits, minimum=0):
    """Checks of a batch of texts (at least `minimum`), from their lengths in
    tokens."""
    longest = tf.reduce_max(tf.concat([[0], tf.cast(lengths, tf.int32)], 0))
    return [
        assert_count(tf.size(lengths), limits, "max_batch_size", name, "texts",
                      minimum),
        assert_count(longest, limits, "max_input_length", name, "tokens per text"),
    ]


def checked_texts(text, lengths, name, limits):
    """`text`, once within `max_batch_size` and, by its `lengths` in tokens,
    `max_input_length`."""
    return after(text_checks(lengths, name, limits), text)
