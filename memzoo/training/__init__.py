"""Training a zoo model end to end: what `memzoo train` runs.

`train()` builds a model from a preset, streams the batches its family
makes of the data (`ZooModel.training_data()`: a corpus or a memory task,
labelled texts, series windows, sentence pairs), and runs `model.fit` with
Keras's own callbacks (progress bar, `TensorBoard`, `TerminateOnNaN`, a
`BackupAndRestore` whose files are written atomically), under a
`tf.distribute` strategy. It writes into an output folder:

    run.json        the run's configuration (a folder holds one run)
    jit_compile.json  whether the run trains with XLA, and why (measured:
                    `xla_choice`)
    backup/         the latest backup while the run is unfinished
    logs/           TensorBoard logs
    model.keras     the trained model
    preset/         the trained model as a preset directory (`from_preset`)
    metrics.json    final losses, bits per character, tokens/s, the config

With `stateful=True`, a next-token model on a corpus trains statefully: each
batch row reads on from where the row's previous batch ended, starting from
the state it ended in, with the gradient stopped at the boundary, and every
row resets its state together each `stream_length` tokens (by default
`STREAM_WINDOWS` windows; 0 reads whole documents). The carried state is
part of the backup. `stateful=None`, the default, takes the family's
`trains_statefully_by_default` where it can (on one machine): measured at
equal training time in the memory study (README), an `LSTMLanguageModel`
scored better trained statefully, a `BigLanguageModel` on independent
windows.

A run killed at any moment and started again with the same configuration
continues from its last backup and ends with the same weights as a run that
was never interrupted: Keras epochs are short chunks of `backup_every`
steps, a backup is taken after each, and the data stream, deterministic for
the seed, skips the batches the restored steps already used.

The package is split by concern: `config` (the checked settings), `loop`
(`train()`), `building` (the model of a preset, loading one), `run_folder`
(atomic files), `checkpoint` (backups), `distribution` (strategies),
`optimization` (schedule and compile), `xla_choice` (what
`jit_compile="auto"` picks) and `callbacks`.
"""

from memzoo.training.building import build_model
from memzoo.training.building import load_model
from memzoo.training.building import trainable_class
from memzoo.training.callbacks import fit_callbacks
from memzoo.training.callbacks import tokens_per_batch
from memzoo.training.checkpoint import AtomicBackupAndRestore
from memzoo.training.config import STREAM_WINDOWS
from memzoo.training.config import TrainingConfig
from memzoo.training.config import check_sequence_length
from memzoo.training.config import check_stateful
from memzoo.training.config import check_stream_length
from memzoo.training.distribution import STRATEGIES
from memzoo.training.distribution import get_strategy
from memzoo.training.distribution import shard_by_data
from memzoo.training.loop import stateful_choice
from memzoo.training.loop import train
from memzoo.training.optimization import MIXED_PRECISION
from memzoo.training.optimization import compile_for_training
from memzoo.training.optimization import learning_rate_schedule
from memzoo.training.run_folder import METRICS_FILE
from memzoo.training.run_folder import MODEL_FILE
from memzoo.training.run_folder import PRESET_DIR
from memzoo.training.run_folder import RUN_FILE
from memzoo.training.run_folder import claim_output_dir
from memzoo.training.run_folder import save_model_atomically
from memzoo.training.run_folder import write_json_atomically
