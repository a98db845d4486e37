"""How a `Seq2SeqTranslator` reads sentence pairs, and what it is scored on."""

from memzoo import data
from memzoo.data.sentence_piece import TRAINED_ON_DATA
from memzoo.metrics import corpus_bleu
from memzoo.metrics import corpus_chrf
from memzoo.metrics import translation_bleu
from memzoo.models.zoo_model import VALIDATION_SPLIT
from memzoo.models.zoo_model import TrainingData


def teacher_forcing(source_ids, target_ids):
    """`(source, target)` -> `((source, target[:, :-1]), target[:, 1:])`.

    Maps `memzoo.data.translation_dataset` batches to what `fit` takes:
    the decoder reads the target up to each step and predicts the next
    token.
    """
    return (source_ids, target_ids[:, :-1]), target_ids[:, 1:]


def training_data(model_class, config, data_source, batch_size,
                  sequence_length, seed, validation_batches, data_dir=None):
    """`translation_dataset` pairs of at most `sequence_length` tokens, with
    teacher forcing; it validates on the `VALIDATION_SPLIT` of the training
    split it does not train on. With `tokenizer="sentence_piece"` a
    SentencePiece model of `target_vocab_size` pieces is first trained on the
    texts of both sides it trains on, and becomes the model's `tokenizer`."""
    tokenizer, overrides = config.get("tokenizer") or "byte", {}
    if tokenizer == TRAINED_ON_DATA:
        training_pairs = data.hold_out(
            data.supervised_dataset(data_source, "train", data_dir),
            VALIDATION_SPLIT, "training",
        )
        proto = data.train_sentence_piece(
            (text for pair in training_pairs.as_numpy_iterator() for text in pair),
            config["target_vocab_size"],
        )
        tokenizer = data.SentencePieceTokenizer(proto)
        overrides = {"tokenizer": tokenizer.config()}

    def pairs(subset, shuffle):
        return data.translation_dataset(
            data_source, batch_size, tokenizer=tokenizer, split="train",
            max_length=sequence_length, shuffle=shuffle, seed=seed,
            data_dir=data_dir, validation_split=VALIDATION_SPLIT,
            subset=subset,
        ).map(teacher_forcing)

    train_pass = pairs("training", True)
    return TrainingData(
        train=train_pass.repeat(),
        validation=pairs("validation", False).take(validation_batches),
        count_pass=lambda: sum(1 for _ in train_pass),
        config=overrides,
    )


def evaluate_held_out(model, data_source, split="test", batch_size=32,
                      sequence_length=None, max_batches=None, data_dir=None,
                      baselines=False, beam_size=1, seed=None):
    """Loss, token accuracy, and sacrebleu BLEU and chrF of the translations; the
    baseline is the source copied as its own translation."""
    model._require_data(data_source)
    tokenizer = (data.ByteTokenizer() if model.tokenizer is None
                 else model._text_tokenizer())
    dataset = data.translation_dataset(
        data_source, batch_size, tokenizer=tokenizer, split=split,
        max_length=sequence_length, shuffle=False, data_dir=data_dir,
    ).map(teacher_forcing)
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = data.finite_dataset(dataset, split)
    model.compile(jit_compile=False)
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    # BLEU on the very pairs of the batches: the texts, back from their ids.
    sources, references = [], []
    for (source_ids, target_input_ids), _ in dataset:
        sources.extend(_texts(tokenizer, source_ids))
        references.extend(_texts(tokenizer, target_input_ids))
    bleu, translations = translation_bleu(
        model, sources, references, beam_size=beam_size,
        max_length=sequence_length, batch_size=batch_size,
    )
    scores = {
        "loss": results["loss"],
        "token_accuracy": results["accuracy"],
        "bleu": bleu.score,
        "chrf": corpus_chrf(translations, references).score,
    }
    if baselines:
        scores["baseline_copy_source_bleu"] = corpus_bleu(sources, references).score
        scores["baseline_copy_source_chrf"] = corpus_chrf(sources, references).score
    return scores


def _texts(tokenizer, ids):
    """Strings of token ids (padding, start and end ids stand for nothing)."""
    return [t.decode("utf-8", "replace") for t in tokenizer.detokenize(ids).numpy()]
