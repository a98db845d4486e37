"""Tokenizers, corpora as tensorflow-datasets builders, `tf.data` pipelines
and memory tasks.

Importing this package registers memzoo's tfds builders (`shakespeare_plays`,
`python_stdlib`, `tweet_sentiment`, `bbc_news`, `gettext_translations`).
The memory tasks are in `memzoo.data.tasks`, numeric series (CO2,
sunspots; needs statsmodels) in `memzoo.data.series`.
"""

from memzoo.data import datasets
from memzoo.data import series
from memzoo.data import tasks
from memzoo.data.byte_tokenizer import ByteTokenizer
from memzoo.data.pipelines import classification_dataset
from memzoo.data.pipelines import default_data_dir
from memzoo.data.pipelines import language_model_dataset
from memzoo.data.pipelines import supervised_dataset
from memzoo.data.pipelines import text_dataset
from memzoo.data.pipelines import translation_dataset
from memzoo.data.pipelines import word_vectorizer
from memzoo.data.text_corpora import default_corpus_files
from memzoo.data.text_corpora import python_stdlib_files
from memzoo.data.text_corpora import read_texts
from memzoo.data.text_corpora import shakespeare_files
from memzoo.data.tokenizers import TOKENIZERS
from memzoo.data.tokenizers import get_tokenizer
