"""tensorflow-datasets builders of the corpora on this machine.

Importing this package registers them, so `tfds.load(name, data_dir=...)`
builds them offline from the local files.
"""

from memzoo.data.datasets.bbc_news import BbcNews
from memzoo.data.datasets.gettext_translations import GettextTranslations
from memzoo.data.datasets.python_stdlib import PythonStdlib
from memzoo.data.datasets.shakespeare_plays import ShakespearePlays
from memzoo.data.datasets.tweet_sentiment import TweetSentiment
