# Two entry points for a fresh machine: `make demo` (train on the embedded default dataset and
# write a run folder with its report) and `make test` (the whole test suite, slowest tests
# listed). Each creates its own virtual environment in .venv on first use. For the edit-test
# loop: `make test-fast` (all but the tests marked slow), `make lint`, `make typecheck`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the CPU build of torch; an unpinned torch would pull a CUDA build of several GB
TORCH ?= torch==2.13.0
export VAEKIT_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test test-fast lint typecheck bench figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vaekit train --out runs/demo --overwrite

test: $(STAMP)
	$(PY) -m pytest -q --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts examples
	$(VENV)/bin/ruff format --check src tests benchmarks scripts examples

# strict on the public modules, mypy's defaults elsewhere: see [tool.mypy] in pyproject.toml
typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/mnist_quality.py
	$(PY) benchmarks/data_loading.py

figures: $(STAMP)
	$(PY) scripts/readme_figures.py

clean:
	rm -rf $(VENV) runs .pytest_cache
