# Two entry points for a fresh machine: `make demo` (train on the embedded default dataset and
# write a run folder with its report) and `make test` (the whole test suite). Each creates its
# own virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the CPU build of torch; an unpinned torch would pull a CUDA build of several GB
TORCH ?= torch==2.13.0
export VAEKIT_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test lint bench figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vaekit train --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

bench: $(STAMP)
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/mnist_quality.py
	$(PY) benchmarks/data_loading.py

figures: $(STAMP)
	$(PY) scripts/readme_figures.py

clean:
	rm -rf $(VENV) runs .pytest_cache
