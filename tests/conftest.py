import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist each worker builds the tfds corpora into its own folder,
# so two workers never write the same dataset at once.
if "PYTEST_XDIST_WORKER" in os.environ:
    import tempfile

    os.environ["TFDS_DATA_DIR"] = os.path.join(
        tempfile.gettempdir(), f"memzoo_tfds_{os.environ['PYTEST_XDIST_WORKER']}"
    )

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the same seed and the float32 policy."""
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
