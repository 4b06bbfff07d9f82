# One obvious way to run each thing. Works on a machine that has only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-sqlite lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pulse demo

test: $(STAMP)
	$(BIN)/pytest -q

test-sqlite: $(STAMP)
	$(BIN)/pytest -q -k "not postgresql"

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/score_bench.py

clean:
	rm -rf $(VENV) pulse.db pulse.db-shm pulse.db-wal .pytest_cache .ruff_cache
