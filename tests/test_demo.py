import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_demo_trains_and_prints_a_sample():
    script = os.path.join(ROOT, "examples", "language_model_demo.py")
    result = subprocess.run(
        [sys.executable, script, "--steps", "5", "--validation-batches", "2",
         "--max-new-tokens", "20", "--prompt", "HAMLET.", "--no-jit-compile"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "corpus: shakespeare_plays (tensorflow-datasets in" in result.stdout
    assert "trained 5 steps" in result.stdout
    assert "bits per byte" in result.stdout
    assert "sample:\nHAMLET." in result.stdout
