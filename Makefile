# Single entry point. `make setup` is idempotent; every other target calls it first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup data reproduce test lint bench paper clean-results demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[embeddings,workbench,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (paretobandit)"
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(PY) -m paretobandit data fetch

reproduce: data
	$(PY) -m paretobandit.workbench run --scale full

demo: setup
	$(PY) examples/quickstart.py

test: data
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) benchmarks/bench_router.py

paper: setup
	$(PY) -m paretobandit.workbench run --skip-run
	$(PY) -m paretobandit.workbench paper
