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

# The seed of the tests marked `training_outcome`; `make test-seeds`
# (tests/seed_sweep.py) runs them for several, with oneDNN on and off, and
# tabulates what each measured (`record_property`, in the JUnit XML report).
SEED_VARIABLE = "MEMZOO_TEST_SEED"


@pytest.fixture(scope="session")
def seed():
    """The seed a `training_outcome` test draws its weights and data with.

    0 unless `MEMZOO_TEST_SEED` says otherwise. Such a test asserts what
    training reaches, so it must hold for every seed (and for the other
    kernels another CPU, or `TF_ENABLE_ONEDNN_OPTS=0`, picks), not only for
    one lucky trajectory.
    """
    return int(os.environ.get(SEED_VARIABLE, "0"))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the same seed and the float32 policy."""
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
