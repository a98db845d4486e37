"""The Seq2SeqTranslator family: the model and its presets."""

from memzoo.models.seq2seq_translator.seq2seq_translator import Seq2SeqTranslator
