"""Presets of `NeuralTuringMachine` for the memory tasks (byte ids: vocabulary 259)."""

PRESETS = {
    "ntm_copy": {
        "data": "copy:length=6,distance=0,vocabulary=abcd",
        "description": (
            "16 slots of width 8, a 32-unit controller, one read and one "
            "write head; for `memzoo.data.tasks.copy` (100% on 6 symbols of 4 "
            "after 5,000 steps at learning rate 3e-3)."
        ),
        "config": {
            "memory_size": 16,
            "memory_width": 8,
            "controller_units": 32,
            "num_read_heads": 1,
            "num_write_heads": 1,
            "shift_range": 1,
            "vocab_size": 259,
            "embedding_dim": 16,
        },
    },
    "ntm_associative_recall": {
        "data": "associative_recall:num_pairs=2,distance=0",
        "description": (
            "16 slots of width 16, a 64-unit controller, one read and one "
            "write head; for `memzoo.data.tasks.associative_recall` (2 pairs: "
            "99.6% after 3,000 steps at batch size 64 and learning rate 1e-2, "
            "chance 10%)."
        ),
        "config": {
            "memory_size": 16,
            "memory_width": 16,
            "controller_units": 64,
            "num_read_heads": 1,
            "num_write_heads": 1,
            "shift_range": 1,
            "vocab_size": 259,
            "embedding_dim": 16,
        },
    },
}
