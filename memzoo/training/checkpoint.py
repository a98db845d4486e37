"""Backups that survive a kill at any moment, for exact resume."""

import json
import os
import shutil
import tempfile

import keras
import numpy as np

from memzoo.training.run_folder import write_json_atomically


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backups survive a kill at any moment.

    Keras's callback writes its weights file in place and the epoch in a
    second file after it, so a kill while saving leaves a truncated file or
    weights and epoch that disagree. Here each backup is written into a
    fresh folder, and only a complete one becomes current, by an atomic
    rename of a one-line pointer file. A backup also holds the states of
    the model's random seed generators, which Keras's weights files leave
    out: a resumed run draws the dropout masks an uninterrupted one draws.
    """

    POINTER = "latest.json"
    SEED_STATES = "seed_states.npz"
    CARRIED_STATE = "carried_state.npz"

    def saved_epoch(self):
        """Epochs completed by the current backup; 0 when there is none."""
        pointer = self._read_pointer()
        return 0 if pointer is None else pointer["epoch"]

    def _read_pointer(self):
        path = os.path.join(self.backup_dir, self.POINTER)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".saving-", dir=self.backup_dir)
        self.model.save_weights(os.path.join(staging, "backup.weights.h5"))
        np.savez(os.path.join(staging, self.SEED_STATES),
                 *[keras.ops.convert_to_numpy(state) for state in self._seed_states()])
        carried = getattr(self.model, "carried_state", None)
        if carried:
            # Stateful training's carried state: the next step starts from it.
            np.savez(os.path.join(staging, self.CARRIED_STATE),
                     **self.model.carried_state_values())
        folder = f"epoch-{self._current_epoch:06d}"
        final = os.path.join(self.backup_dir, folder)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        write_json_atomically(
            os.path.join(self.backup_dir, self.POINTER),
            {"epoch": self._current_epoch, "folder": folder},
        )
        for name in os.listdir(self.backup_dir):
            if name != folder and (name.startswith("epoch-") or name.startswith(".saving-")):
                shutil.rmtree(os.path.join(self.backup_dir, name), ignore_errors=True)

    def _load_model(self):
        pointer = self._read_pointer()
        if pointer is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            # The optimizer's slots must exist for their values to load.
            self.model.optimizer.build(self.model.trainable_variables)
        folder = os.path.join(self.backup_dir, pointer["folder"])
        self.model.load_weights(os.path.join(folder, "backup.weights.h5"))
        with np.load(os.path.join(folder, self.SEED_STATES)) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        states = self._seed_states()
        if len(values) != len(states):
            raise ValueError(
                f"The backup in {folder} holds {len(values)} random seed states, "
                f"the model {len(states)}: it is another model's backup."
            )
        for state, value in zip(states, values):
            state.assign(value)
        carried = getattr(self.model, "carried_state", None)
        carried_path = os.path.join(folder, self.CARRIED_STATE)
        if carried and os.path.exists(carried_path):
            with np.load(carried_path) as saved:
                self.model.assign_carried_state(dict(saved))
        self.model._initial_epoch = pointer["epoch"]

    def _seed_states(self):
        # Keras keeps a layer's seed generators in a private list (its
        # `variables` include their states, its weights files do not).
        return [generator.state for layer in self.model._flatten_layers()
                for generator in layer._seed_generators]
