import gettext

import tensorflow_datasets as tfds

from memzoo.data import text_corpora

LANGUAGES = ("de", "es", "fr", "it", "ja", "nl", "pl", "pt_BR", "ru", "sv", "zh_CN")
# Messages with these carry markup, format fields or layout, not a sentence.
_NOT_PROSE = ("%", "{", "}", "<", ">", "$", "\\", "\n", "\t", "=", "--", "__")


def _is_sentence_like(text, max_length):
    return (
        len(text.split()) >= 2
        and len(text) <= max_length
        and not any(mark in text for mark in _NOT_PROSE)
    )


def sentence_pairs(language, max_length=200, locale_dir="/usr/share/locale"):
    """`{english: translation}` from the machine's catalogs for `language`.

    Only single-line messages of two words or more, without format fields or
    markup, are kept; the first translation of a message (catalogs in sorted
    order) wins.
    """
    pairs = {}
    for path in text_corpora.gettext_catalogs(language, locale_dir):
        try:
            with open(path, "rb") as f:
                # The standard library reads .mo files but has no public way
                # to list their messages: `_catalog` is that table.
                catalog = gettext.GNUTranslations(f)._catalog
        except (OSError, UnicodeDecodeError):
            continue  # A catalog in a broken or undeclared encoding.
        for source, target in catalog.items():
            if not isinstance(source, str) or not isinstance(target, str):
                continue  # Plural forms are keyed by (message, index).
            source, target = source.strip(), target.strip()
            if (
                source != target
                and source not in pairs
                and _is_sentence_like(source, max_length)
                and _is_sentence_like(target, max_length)
            ):
                pairs[source] = target
    return pairs


class GettextTranslationsConfig(tfds.core.BuilderConfig):
    """English -> `language` pairs; `language` is a gettext locale name."""

    def __init__(self, *, language, **kwargs):
        super().__init__(
            name=f"en_to_{language}",
            description=f"English to {language} from {language}/LC_MESSAGES/*.mo",
            **kwargs,
        )
        self.language = language


class GettextTranslations(tfds.core.GeneratorBasedBuilder):
    """English sentence pairs from the gettext catalogs installed here.

    Programs ship their user interface translations as compiled gettext
    catalogs (`/usr/share/locale/<language>/LC_MESSAGES/*.mo`); their messages
    and translations make a parallel corpus of real, human-translated
    sentences. Which pairs there are depends on the programs installed, so
    two machines can build different data: the description of a build
    records nothing more than the language. `test` holds the pairs whose
    English text's MD5 hash falls in 10% of the range. Configs are named
    `en_to_<language>`, e.g. `gettext_translations/en_to_de`; a machine
    without catalogs for the language gets a `FileNotFoundError`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Sentence-like messages, split by hash."}
    BUILDER_CONFIGS = [
        GettextTranslationsConfig(language=language) for language in LANGUAGES
    ]

    def _info(self):
        language = self.builder_config.language
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "English messages of installed programs and their "
                f"{language} translations, from the machine's gettext "
                "catalogs; single-line messages of two or more words "
                "without format fields or markup."
            ),
            features=tfds.features.Translation(languages=("en", language)),
            supervised_keys=("en", language),
            homepage="https://www.gnu.org/software/gettext/",
            license="Each catalog under the licence of the program it ships with.",
        )

    def _split_generators(self, dl_manager):
        pairs = sentence_pairs(self.builder_config.language)
        return {
            "train": self._generate_examples(pairs, test=False),
            "test": self._generate_examples(pairs, test=True),
        }

    def _generate_examples(self, pairs, test):
        language = self.builder_config.language
        for source, target in sorted(pairs.items()):
            if text_corpora.in_test_split(source) == test:
                yield source, {"en": source, language: target}
