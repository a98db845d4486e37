"""Searching memory sizes with keras-tuner: what `memzoo tune` runs.

`MemoryHyperModel` is a `keras_tuner.HyperModel` that builds a zoo language
model from a preset with its working memory W, long-short-term memory M and
segment length S (and optionally width, depth and learning rate) drawn from
the `hp` object, and trains it as `memzoo train` does: the same data
pipeline, optimizer, schedule and callbacks (`memzoo.training`). `tune()`
runs one of keras-tuner's tuners over it and writes into an output folder:

    run.json              the search's configuration (a folder holds one)
    search/               keras-tuner's project: its oracle and trials
    logs/                 TensorBoard logs, one folder per trial, with hparams
    tuning_results.csv    one row per finished trial, best first
    tuning.png            val_loss against W, one line per M
    best_model.keras      the best trial's model, at its best epoch

keras-tuner keeps the search's state in `search/` (`overwrite=False`), so a
search started again with the same configuration continues: finished trials
are not repeated, an interrupted one runs again. For a distributed search,
start the same command in a chief and in workers with keras-tuner's own
variables `KERASTUNER_TUNER_ID` (`chief`, `tuner0`, `tuner1`, ...),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`, on a shared folder: the
workers run the trials, the chief's oracle hands them out, and the chief
writes the results once they are all done.
"""

from memzoo.tuning.hypermodel import MemoryHyperModel
from memzoo.tuning.results import COLUMNS
from memzoo.tuning.results import OBJECTIVE
from memzoo.tuning.results import OPTIONAL_HYPERPARAMETERS
from memzoo.tuning.results import format_results
from memzoo.tuning.search import BEST_MODEL_FILE
from memzoo.tuning.search import PLOT_FILE
from memzoo.tuning.search import PROJECT_NAME
from memzoo.tuning.search import RESULTS_FILE
from memzoo.tuning.search import TUNERS
from memzoo.tuning.search import tune
