# Single entry point. `make setup` is idempotent; every other target calls it first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup data features reproduce test lint bench paper refresh-notebooks clean-results demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[embeddings,workbench,sweeps,arena,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (paretobandit)"
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(PY) -m paretobandit data fetch

# Re-derive the canonical features on this machine and print the deviation (never replaces them; to do so:
# `$(PY) -m paretobandit features build --replace`). The experiments read the artifact in the package.
features: data
	$(PY) -m paretobandit features build

reproduce: data
	$(PY) -m paretobandit.workbench run --scale full
	$(PY) -m paretobandit.workbench readme

demo: setup
	$(PY) examples/quickstart.py

# Unit, property, config and integration tests, then nbval on every notebook (pytest config in pyproject.toml).
# Notebook outputs of the test run go to results/_nbval/, never over the committed results.
NBVAL_ENV := PARETOBANDIT_RESULTS_ROOT=results/_nbval PARETOBANDIT_MACROS_DIR=results/_nbval/macros \
             HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TQDM_DISABLE=1
test: data
	$(PY) -m ruff check .
	$(NBVAL_ENV) $(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

bench: data
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_router.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_threads.py
	$(PY) benchmarks/bench_sim.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_features.py

refresh-notebooks: data
	$(PY) -m paretobandit.workbench refresh

clean-results:
	rm -rf results/_ci results/_sweeps results/_runs results/_nbval

paper: setup
	$(PY) -m paretobandit.workbench run --skip-run
	$(PY) -m paretobandit.workbench paper
