"""Tokenizers, corpora as tensorflow-datasets builders, `tf.data` pipelines
and memory tasks.

memzoo's tfds builders (`shakespeare_plays`, `python_stdlib`,
`tweet_sentiment`, `bbc_news`, `gettext_translations`) are in
`memzoo.data.datasets`, registered as soon as tensorflow-datasets is imported
(which importing memzoo does not do). The memory tasks are in
`memzoo.data.tasks`, numeric series (CO2, sunspots; needs statsmodels) in
`memzoo.data.series`.
"""

import importlib

import wrapt

from memzoo.data import series
from memzoo.data import tasks
from memzoo.data.byte_tokenizer import ByteTokenizer
from memzoo.data.pipelines import classification_dataset
from memzoo.data.pipelines import finite_dataset
from memzoo.data.pipelines import hold_out
from memzoo.data.pipelines import language_model_dataset
from memzoo.data.pipelines import translation_dataset
from memzoo.data.pipelines import word_vectorizer
from memzoo.data.sentence_piece import SentencePieceTokenizer
from memzoo.data.sentence_piece import train_sentence_piece
from memzoo.data.streams import language_model_streams
from memzoo.data.text_corpora import default_corpus_files
from memzoo.data.text_corpora import python_stdlib_files
from memzoo.data.text_corpora import read_texts
from memzoo.data.text_corpora import shakespeare_files
from memzoo.data.text_sources import default_data_dir
from memzoo.data.text_sources import supervised_dataset
from memzoo.data.text_sources import text_dataset
from memzoo.data.tokenizers import TOKENIZERS
from memzoo.data.tokenizers import get_tokenizer

# A model alone does not need tensorflow-datasets (its import loads hundreds
# of modules), yet whoever imports it (memzoo's pipelines, a model family's
# data code, a user's `tfds.load("shakespeare_plays")`) expects memzoo's
# builders there.
wrapt.register_post_import_hook(
    lambda tfds: importlib.import_module("memzoo.data.datasets"),
    "tensorflow_datasets",
)
