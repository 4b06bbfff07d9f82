# One obvious way to run each thing. Works on a machine that has only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-sqlite lint format example-config bench bench-all clean

# pip prints what it downloads and installs: the first install takes a minute or two.
$(STAMP): pyproject.toml
	@echo "==> [1/3] creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] upgrading pip"
	$(BIN)/python -m pip install --progress-bar on --upgrade pip
	@echo "==> [3/3] installing Pulse and its dependencies (pandas, scikit-learn, Slack's SDK, ...)"
	$(BIN)/python -m pip install --progress-bar on -e ".[dev]"
	touch $(STAMP)
	@echo "==> installed; the next make commands start at once"

install: $(STAMP)

demo: $(STAMP)
	@echo "==> pulse demo: sample data, scored, in ./pulse.db"
	$(BIN)/pulse demo

test: $(STAMP)
	$(BIN)/pytest -q

test-sqlite: $(STAMP)
	$(BIN)/pytest -q -k "not postgresql"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .

# pulse.example.yml from the config model (pulse/kernel/config/); run it after changing a key.
# tests/kernel/test_config_example.py fails while the file is out of date.
example-config: $(STAMP)
	$(BIN)/pulse config example --output pulse.example.yml

bench: $(STAMP)
	$(BIN)/python bench/score_bench.py

# Every benchmark in docs/performance.md, one after the other (about an hour; nothing else
# should run meanwhile, or the figures mean nothing).
bench-all: $(STAMP)
	$(BIN)/python bench/score_bench.py
	$(BIN)/python bench/slack_bench.py
	$(BIN)/python bench/parquet_load_bench.py
	$(BIN)/python bench/writeback_bench.py
	$(BIN)/python bench/live_bench.py
	$(BIN)/python bench/backtest_bench.py

clean:
	rm -rf $(VENV) pulse.db pulse.db-shm pulse.db-wal .pytest_cache .ruff_cache
