"""Runs the notebooks in a fresh kernel each and saves them with their outputs.

`make notebooks` runs this: the full settings, whose outputs are committed.
With `--tiny` (what `tests/test_notebooks.py` sets, through the environment
variable MEMZOO_NOTEBOOKS=tiny that each notebook's parameter cell reads) the
notebooks run on tiny settings and nothing is written.

    python notebooks/execute.py                   # all, in place
    python notebooks/execute.py 03_serving.ipynb  # one
"""

import argparse
import glob
import os
import sys
import time

import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))


def notebook_paths():
    """The notebooks, in their order."""
    return sorted(glob.glob(os.path.join(HERE, "[0-9][0-9]_*.ipynb")))


def execute(path, tiny=False, timeout=1800):
    """Runs the notebook at `path` top to bottom in a fresh kernel started in
    its folder: the notebook with its outputs (an error in a cell raises
    `nbclient.exceptions.CellExecutionError`)."""
    notebook = nbformat.read(path, as_version=4)
    # The kernel's environment: this process's, and the settings to run.
    environment = dict(os.environ, MEMZOO_NOTEBOOKS="tiny" if tiny else "full")
    nbclient.NotebookClient(
        notebook, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(path)}},
    ).execute(env=environment)
    return notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*",
                        help="file names in notebooks/ (default: all)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny settings; the notebooks are not written")
    args = parser.parse_args(argv)
    known = {os.path.basename(path): path for path in notebook_paths()}
    for name in args.notebooks:
        if name not in known:
            parser.error(f"argument notebooks: expected one of {sorted(known)}. "
                         f"Received: {name!r}")
    paths = [known[name] for name in args.notebooks] or list(known.values())
    for path in paths:
        start = time.time()
        notebook = execute(path, tiny=args.tiny)
        if not args.tiny:
            nbformat.write(notebook, path)
        print(f"{os.path.basename(path)}: {time.time() - start:.0f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
