"""A stand-in for TF Serving's REST `:predict`, for tests without the server.

It follows the documented JSON mapping of the columnar form: the request's
`inputs` are converted to the dtypes of the named signature, and a
signature with one output answers `{"outputs": <value>}`, one with several
`{"outputs": {<name>: <value>}}`; strings travel as UTF-8 JSON strings.
"""

import io
import json

import tensorflow as tf


class FakeRestServer:
    """Answers `urllib.request.urlopen(url, data=...)` from a SavedModel."""

    def __init__(self, saved_model_path):
        self.signatures = tf.saved_model.load(saved_model_path).signatures
        self.exchanges = []

    def urlopen(self, url, data):
        assert url.endswith(":predict"), url
        request = json.loads(data)
        signature = self.signatures[request.get("signature_name", "serving_default")]
        specs = signature.structured_input_signature[1]
        inputs = {name: tf.constant(value, dtype=specs[name].dtype)
                  for name, value in request["inputs"].items()}
        outputs = {name: _to_json(value) for name, value in signature(**inputs).items()}
        response = {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}
        self.exchanges.append((request, response))
        return io.BytesIO(json.dumps(response).encode())


def _to_json(tensor):
    value = tensor.numpy()
    if tensor.dtype == tf.string:
        return [text.decode("utf-8") for text in value.ravel()]
    return value.tolist()
