# connection-patterns: `make report` and `make test` set themselves up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SAMPLE ?= data/sample
OUT ?= reports/sample
JOBS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup report test lint bench sample clean

help:  ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# Register the venv's interpreter as the `python3` kernel inside the venv, so papermill's
	# explicit kernel name resolves to this environment and never to a system Jupyter.
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (connection-patterns)"
	@touch $(STAMP)

setup: $(STAMP)  ## Create .venv and install the kit with its test tools

report: $(STAMP)  ## Build the reports for the sample data under reports/
	$(VENV)/bin/patterns validate $(SAMPLE)
	$(VENV)/bin/patterns report $(SAMPLE) --out $(OUT) --jobs $(JOBS)
	$(VENV)/bin/patterns metrics $(SAMPLE) -o $(OUT)/couple_week_metrics.csv
	@echo "Open $(OUT)/index.html in a browser."

test: $(STAMP)  ## Run every test (unit, property, notebook, browser)
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(STAMP)  ## ruff check and format check
	$(VENV)/bin/ruff check src tests benchmarks notebooks/build.py
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks/build.py

bench: $(STAMP)  ## Run the benchmarks (prints figures; slow)
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/bench_headline.py --size large --repeat 5
	$(PY) benchmarks/bench_messy.py --size large --repeat 5

sample: $(STAMP)  ## Regenerate data/sample from the simulator (deterministic)
	$(VENV)/bin/patterns simulate --couples 4 --days 120 --seed 20261126 --out $(SAMPLE)
	$(PY) -c "from patterns.simulate import update_data_dictionary as u; u('$(SAMPLE)/README.md')"

clean:  ## Remove generated reports and caches (keeps .venv)
	find reports -mindepth 1 ! -name README.md ! -name .gitkeep -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis
