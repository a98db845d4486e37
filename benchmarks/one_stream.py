"""Held-out bits per character of language models: windows against one stream.

Each model reads the start of the held-out texts twice: as windows of
`--window` tokens, each from a fresh state, and as one stream, `--window`
tokens a call with the state carried from call to call. Carrying the state
helps a model only if it learned to use it (stateful training,
`memzoo train --stateful`); a model trained on windows has never seen a
state older than one window. A first look at what `memzoo probe` is to
measure (issue 17).

    python benchmarks/one_stream.py runs/demo/model.keras runs/stateful/model.keras
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import memzoo  # noqa: E402


def held_out_ids(data, split, documents, max_bytes, data_dir):
    """Byte-tokenizer ids of the first `max_bytes` of the first `documents`
    texts of the split, one after the other."""
    texts = memzoo.data.text_dataset(data, split, data_dir).take(documents)
    tokenizer = memzoo.data.ByteTokenizer()
    return np.concatenate([
        np.asarray(tokenizer.tokenize(text.numpy()[:max_bytes])) for text in texts
    ]).astype("int32")


def bits_per_character(model, ids, window, carry_state):
    length = (len(ids) - 1) // window * window
    inputs = ids[:length].reshape(1, -1)
    targets = ids[1:length + 1].reshape(1, -1)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                      reduction=None)
    if not carry_state:
        logits = model(inputs.reshape(-1, window))
        return float(np.mean(loss(targets.reshape(-1, window), logits))) / np.log(2)
    state, losses = model.get_initial_state(1), []
    for start in range(0, length, window):
        logits, state = model(inputs[:, start:start + window],
                              initial_state=state, return_state=True)
        losses.append(np.asarray(loss(targets[:, start:start + window], logits)))
    return float(np.mean(np.concatenate(losses, axis=1))) / np.log(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help=".keras files or preset dirs")
    parser.add_argument("--data", default="shakespeare_plays")
    parser.add_argument("--split", default="test")
    parser.add_argument("--documents", type=int, default=2)
    parser.add_argument("--max-bytes", type=int, default=50_000,
                        help="bytes read of each document")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        ids = held_out_ids(args.data, args.split, args.documents,
                           args.max_bytes, args.data_dir or temporary)
    print(f"{len(ids):,} held-out tokens of {args.data} ({args.split}), "
          f"windows of {args.window}")
    print(f"{'model':50s}{'windows':>10s}{'one stream':>12s}{'gain':>8s}")
    for path in args.models:
        model = memzoo.training.load_model(path, generates=True)
        windows = bits_per_character(model, ids, args.window, carry_state=False)
        stream = bits_per_character(model, ids, args.window, carry_state=True)
        print(f"{path:50s}{windows:10.3f}{stream:12.3f}{windows - stream:8.3f}",
              flush=True)


if __name__ == "__main__":
    main()
