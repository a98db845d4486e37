"""Metrics of the zoo's models.

Bits per character for the language models; for the translators, token
accuracy while training and BLEU and chrF after. Both are sacrebleu's, the reference
implementation of the WMT evaluations (Post, 2018, "A Call for Clarity in
Reporting BLEU Scores"): a score here is comparable with published ones
when the same test set and tokenization are used.
"""

import math

import keras
import sacrebleu
from keras import ops

from memzoo.validation import check_integer


@keras.saving.register_keras_serializable(package="memzoo")
def bits_per_character(y_true, y_pred):
    """Next-token cross-entropy of logits in bits per token.

    The presets read UTF-8 bytes, so for ASCII text (the default corpus) a
    token is a character; for other scripts this is bits per byte.
    """
    loss = keras.losses.sparse_categorical_crossentropy(
        y_true, y_pred, from_logits=True
    )
    return loss / math.log(2.0)


@keras.saving.register_keras_serializable(package="memzoo")
class BitsPerCharacter(keras.metrics.MeanMetricWrapper):
    """The mean of `bits_per_character` over the tokens seen.

    Example:

    ```python
    metric = memzoo.metrics.BitsPerCharacter()
    metric.update_state(np.array([[1]]), np.zeros([1, 1, 2]))
    metric.result()  # 1.0: a fair coin between two tokens
    ```
    """

    def __init__(self, name="bits_per_character", dtype=None):
        super().__init__(bits_per_character, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="memzoo")
class TokenAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy of the next-token predictions over the non-padding targets.

    `keras.metrics.SparseCategoricalAccuracy` counts the padding after a
    short target as tokens to predict; this metric leaves out targets equal
    to `ignore_class`, as `SparseCategoricalCrossentropy(ignore_class=0)`
    does for the loss.

    Example:

    ```python
    metric = memzoo.metrics.TokenAccuracy()
    logits = np.log([[[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]]])
    metric.update_state(np.array([[1, 1, 0]]), logits)
    metric.result()  # 0.5: one of the two non-padding targets is right
    ```
    """

    def __init__(self, ignore_class=0, name="accuracy", dtype=None):
        super().__init__(
            keras.metrics.sparse_categorical_accuracy, name=name, dtype=dtype
        )
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        weight = ops.cast(ops.not_equal(y_true, self.ignore_class), self.dtype)
        if sample_weight is not None:
            weight = weight * ops.cast(sample_weight, self.dtype)
        return super().update_state(y_true, y_pred, sample_weight=weight)

    def get_config(self):
        return {"ignore_class": self.ignore_class, "name": self.name,
                "dtype": self.dtype}


def corpus_bleu(translations, references):
    """sacrebleu's corpus BLEU (0-100) of translations against one reference each.

    Args:
        translations: list of str.
        references: list of str, as many as `translations`.

    Returns:
        A `sacrebleu.metrics.BLEUScore`: `.score`, n-gram `.precisions`,
        `.bp` (brevity penalty); `str()` gives sacrebleu's usual line.

    Example:

    ```python
    bleu = memzoo.metrics.corpus_bleu(
        ["Die Datei wurde nicht gefunden."], ["Die Datei wurde nicht gefunden."])
    bleu.score  # 100.0
    ```
    """
    translations, references = _paired(translations, references)
    return sacrebleu.corpus_bleu(translations, [references])


def corpus_chrf(translations, references):
    """sacrebleu's corpus chrF (0-100): the F-score of character n-grams
    (Popović, 2015), kinder than BLEU to a translation that gets the words
    nearly right (an inflection, a compound) and to short sentences.

    Args:
        translations: list of str.
        references: list of str, as many as `translations`.

    Returns:
        A `sacrebleu.metrics.CHRFScore`: `.score`.

    Example:

    ```python
    memzoo.metrics.corpus_chrf(["Datei öffnen"], ["Datei öffnen"]).score  # 100.0
    ```
    """
    translations, references = _paired(translations, references)
    return sacrebleu.corpus_chrf(translations, [references])


def _paired(translations, references):
    translations, references = list(translations), list(references)
    if len(translations) != len(references):
        raise ValueError(
            "Invalid value for argument `references`. Expected one per "
            f"translation ({len(translations)}). Received: {len(references)}"
        )
    return translations, references


def translation_bleu(
    model, sources, references, beam_size=1, max_length=128, batch_size=64,
    jit_compile=None,
):
    """Translates `sources` with `model` and scores them with `corpus_bleu`.

    Args:
        model: a model with `translate(texts, beam_size, max_length,
            jit_compile=...)`, such as `memzoo.Seq2SeqTranslator`.
        sources: list of str.
        references: list of str, one per source.
        beam_size: int. 1 is greedy decoding.
        max_length: int. The most tokens of a translation.
        batch_size: int. Sources translated at a time.
        jit_compile: bool or `None`. As in `translate()`.

    Returns:
        `(bleu, translations)`: a `sacrebleu.metrics.BLEUScore` and the list
        of translations.
    """
    batch_size = check_integer("batch_size", batch_size)
    sources = list(sources)
    translations = []
    for start in range(0, len(sources), batch_size):
        translations.extend(
            model.translate(
                sources[start : start + batch_size], beam_size=beam_size,
                max_length=max_length, jit_compile=jit_compile,
            )
        )
    return corpus_bleu(translations, references), translations
