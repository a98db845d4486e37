"""The notebooks run top to bottom, and the committed ones show their results."""

import importlib.util
import os

import nbformat
import pytest

NOTEBOOKS_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "notebooks")
NAMES = ["01_quickstart.ipynb", "02_memory_sizes.ipynb", "03_serving.ipynb",
         "04_the_zoo.ipynb"]
# The notebooks that draw: each committed one holds that many pictures.
PICTURES = {"02_memory_sizes.ipynb": 5, "04_the_zoo.ipynb": 4}


def _execute_module():
    spec = importlib.util.spec_from_file_location(
        "execute_notebooks", os.path.join(NOTEBOOKS_DIR, "execute.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outputs(notebook, output_type=None):
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs
            if output_type is None or output.output_type == output_type]


def test_the_notebooks_are_the_four_the_readme_links():
    execute = _execute_module()
    assert [os.path.basename(p) for p in execute.notebook_paths()] == NAMES
    readme = open(os.path.join(NOTEBOOKS_DIR, os.pardir, "README.md")).read()
    for name in NAMES:
        assert f"(notebooks/{name})" in readme


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_notebook_holds_the_outputs_of_a_full_run(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS_DIR, name), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    # Run top to bottom once, in order, with nothing failing.
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not _outputs(notebook, "error")
    assert all(cell.outputs for cell in code[1:] if "print(" in cell.source)
    pictures = [output for output in _outputs(notebook)
                if "image/png" in output.get("data", {})]
    assert len(pictures) == PICTURES.get(name, 0)
    # The parameter cell, which the tests' tiny settings replace.
    assert code[0].metadata.get("tags") == ["parameters"]
    assert "MEMZOO_NOTEBOOKS" in code[0].source


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_runs_on_tiny_settings_in_a_fresh_kernel(name):
    # The notebooks assert what they show (equal outputs, a refused request);
    # a failing cell raises `CellExecutionError` with its traceback.
    notebook = _execute_module().execute(
        os.path.join(NOTEBOOKS_DIR, name), tiny=True, timeout=600)
    assert not _outputs(notebook, "error")
    texts = "".join(output.get("text", "") for output in _outputs(notebook, "stream"))
    assert "Traceback" not in texts
