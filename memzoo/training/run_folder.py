"""A run's folder and the files in it, each written atomically.

A file is written beside its final name and renamed into place, so a kill at
any moment leaves either the old file or the new one, never half of one.
"""

import json
import os
import shutil
import tempfile

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
# The trained model as a preset directory (`ZooModel.from_preset(path)`).
PRESET_DIR = "preset"


def read_json(path):
    """The JSON content of the file `path`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json_atomically(path, content):
    """Writes JSON to a temporary file beside `path`, then renames it."""
    folder = os.path.dirname(path) or "."
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=".tmp-", suffix=".json", delete=False,
        encoding="utf-8",
    ) as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    set_default_permissions(f.name)
    os.replace(f.name, path)


def save_model_atomically(model, path):
    """`model.save(path)` through a temporary `.keras` file and a rename."""
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".keras")
    os.close(handle)
    try:
        model.save(temporary)
        set_default_permissions(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_preset(model, path, metadata):
    """`model.save_to_preset(path, metadata)`, replacing what an earlier,
    killed attempt of the same run left there."""
    shutil.rmtree(path, ignore_errors=True)
    model.save_to_preset(path, metadata=metadata)


def set_default_permissions(path, mode=0o666):
    """Gives `path` the `mode` the umask allows.

    Temporary files and folders are private (0600, 0700); what is renamed
    into place from them should be an ordinary file (`0o666`) or folder
    (`0o777`).
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def claim_output_dir(output_dir, config):
    """Records the run's config in `output_dir`, refusing another run's folder."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, RUN_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        if recorded != json.loads(json.dumps(config)):
            changed = sorted(
                key for key in config.keys() | recorded.keys()
                if json.loads(json.dumps(config.get(key))) != recorded.get(key)
            )
            raise ValueError(
                f"Invalid value for argument `output`: {output_dir} holds a "
                f"different run (its {', '.join(changed)} differ). Use another "
                "output folder, or delete this one to start over."
            )
        return
    write_json_atomically(path, config)

