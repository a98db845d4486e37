"""The settings of a training run, checked once."""

import dataclasses

from memzoo import data
from memzoo.models.presets import get_preset
from memzoo.training.optimization import MIXED_PRECISION
from memzoo.validation import check_integer


# Stateful training resets the state every this many windows by default.
# Measured on `biglm_tiny` (sequence length 128, 1,500 steps): stretches of
# 4 windows gave the best score read as one stream; 16 windows and whole
# documents trained worse, since consecutive batches then repeat the same
# few stretches (README, "How far back the memory reaches").
STREAM_WINDOWS = 4


@dataclasses.dataclass
class TrainingConfig:
    """What `memzoo.training.train` runs, each setting checked, the defaults
    taken from the preset. See `train()` for the meaning of each."""

    preset: str = "biglm_tiny"
    data_source: object = None
    overrides: dict = None
    steps: int = None
    epochs: int = None
    batch_size: int = 32
    sequence_length: int = None
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    jit_compile: object = "auto"
    stateful: bool = None
    stream_length: int = None
    mixed_precision: str = None
    seed: int = 0
    backup_every: int = 50
    validation_batches: int = 50

    def __post_init__(self):
        if self.steps is not None and self.epochs is not None:
            raise ValueError(
                "Invalid value for argument `epochs`. Expected `steps` or "
                f"`epochs`, not both. Received: steps={self.steps!r}, "
                f"epochs={self.epochs!r}"
            )
        if self.epochs is not None:
            self.epochs = check_integer("epochs", self.epochs)
        elif self.steps is None:
            self.steps = 1000
        preset = get_preset(self.preset)
        self.batch_size = check_integer("batch_size", self.batch_size)
        self.sequence_length = check_sequence_length(self.sequence_length,
                                                     self.preset)
        self.backup_every = check_integer("backup_every", self.backup_every)
        self.validation_batches = check_integer(
            "validation_batches", self.validation_batches
        )
        self.warmup_steps = check_integer("warmup_steps", self.warmup_steps,
                                          minimum=0)
        self.seed = check_integer("seed", self.seed, minimum=0)
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ValueError(
                "Invalid value for argument `learning_rate`. Expected a "
                "strictly positive number. Received: "
                f"learning_rate={self.learning_rate!r}"
            )
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                "Invalid value for argument `mixed_precision`. Expected one "
                f"of {sorted(MIXED_PRECISION)} or None. Received: "
                f"mixed_precision={self.mixed_precision!r}"
            )
        self.stateful = check_stateful(self.stateful)
        self.stream_length = check_stream_length(self.stream_length,
                                                 self.sequence_length)
        if not (isinstance(self.jit_compile, bool) or self.jit_compile == "auto"):
            raise ValueError(
                "Invalid value for argument `jit_compile`. Expected True, "
                f"False or 'auto'. Received: jit_compile={self.jit_compile!r}"
            )
        if self.data_source is None:
            self.data_source = preset.get("data")
        if self.data_source is None:
            self.data_source, _ = data.default_corpus_files()
        if self.epochs is not None and data.tasks.memory_task(self.data_source):
            raise ValueError(
                "Invalid value for argument `epochs`. A memory task is an "
                f"endless stream: give `steps`. Received: epochs={self.epochs!r}"
                f", data={self.data_source!r}"
            )
        self.overrides = {k: v for k, v in (self.overrides or {}).items()
                          if v is not None}

    def model_config(self):
        """The preset's config with the overrides applied."""
        return {**get_preset(self.preset)["config"], **self.overrides}

    def record(self):
        """What `run.json` holds: a run started again with the same record
        resumes it."""
        source = self.data_source
        return {
            "preset": self.preset,
            "data": source if isinstance(source, str) else list(source),
            "overrides": self.overrides,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "sequence_length": self.sequence_length,
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "jit_compile": self.jit_compile,
            "stateful": self.stateful,
            "stream_length": self.stream_length,
            "mixed_precision": self.mixed_precision,
            "seed": self.seed,
            "backup_every": self.backup_every,
        }


def check_stateful(stateful):
    """Returns `stateful` if it is True, False or None (the family's default)."""
    if stateful is not None and not isinstance(stateful, bool):
        raise ValueError(
            "Invalid value for argument `stateful`. Expected True, False or "
            f"None (the model family's default). Received: stateful={stateful!r}"
        )
    return stateful


def check_sequence_length(sequence_length, preset):
    """Tokens per training sequence: `sequence_length` checked, `None` for
    the preset's (its `sequence_length`), else 128."""
    if sequence_length is None:
        sequence_length = get_preset(preset).get("sequence_length") or 128
    return check_integer("sequence_length", sequence_length, minimum=2)


def check_stream_length(stream_length, sequence_length):
    """The tokens between two resets of stateful training: `stream_length`
    checked (0: whole documents), `None` for `STREAM_WINDOWS` windows."""
    if stream_length is None:
        return STREAM_WINDOWS * sequence_length
    stream_length = check_integer("stream_length", stream_length, minimum=0)
    if stream_length % sequence_length:
        raise ValueError(
            "Invalid value for argument `stream_length`. Expected a "
            f"multiple of sequence_length={sequence_length}, "
            "or 0 for whole documents. Received: "
            f"stream_length={stream_length}"
        )
    return stream_length
