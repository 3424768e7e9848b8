# probscope: two commands on a fresh machine.
#   make demo   build the built-in runs (if not built yet) and start the dashboard on 127.0.0.1:8501
#   make test   run the test suite
#   make replicate  the built-in replication over 9 seeds (8 in the gate) -> results/, ~42 min (see README, Results)
# Both create .venv first. torch is installed pinned, before anything else: an unpinned torch pulls a
# multi-GB CUDA build (on this kind of machine 2.13.0 is a CPU wheel on local disk).

VENV   ?= .venv
PYTHON ?= python3
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo demo-build test bench clean-runs replicate replicate-continuum

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/probscope demo --runs runs

demo-build: $(VENV)/.installed
	$(BIN)/probscope demo --runs runs --no-serve

test: $(VENV)/.installed-dev
	@# the dashboard's browser test drives Debian's Chromium (Playwright's own browser download is unreachable)
	[ -x /usr/bin/chromium ] || (apt-get update && apt-get install -y chromium) || echo "no chromium: the browser test will skip"
	$(BIN)/ruff check .
	$(BIN)/mypy probscope
	@# one test process per core (up to 4), each on one torch thread (tests/conftest.py); a file's tests stay together
	$(BIN)/pytest -q -n auto --maxprocesses 4 --dist loadfile

bench: $(VENV)/.installed
	$(BIN)/probscope-bench probe

clean-runs:
	rm -rf runs

# the built-in replication (every method x 9 seeds, probed and evaluated) -> results/ (resumable)
replicate: $(VENV)/.installed
	$(BIN)/probscope replicate

# the capability-continuum study (objectives x bases stopped at several pretraining steps) -> results/continuum/
replicate-continuum: $(VENV)/.installed
	$(BIN)/probscope replicate-continuum
