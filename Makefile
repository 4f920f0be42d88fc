# Each target makes .venv when it is missing and re-installs when a requirements file changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format bench bench-selection bench-value bench-monitor demo chromium

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

demo: $(VENV)/.runtime
	@$(PY) -m core.demo --if-missing

run: demo
	$(PY) -m streamlit run app.py

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.dev chromium
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# make bench BENCH_ARGS="--quick" (or "--sizes 20000000", "--paths explore report"): see README, Benchmarks
BENCH_ARGS ?=
bench: $(VENV)/.dev
	$(PY) -m bench.run $(BENCH_ARGS)

# FLAML for bench.selection lives in its own venv, never in .venv: make bench-selection BENCH_ARGS="--quick" (README, Benchmarks)
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.bench: requirements-bench.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements-bench.txt
	@touch $@

bench-selection: $(VENV)/.dev $(BENCH_VENV)/.bench
	$(PY) -m bench.selection $(BENCH_ARGS)

# The value stage's quality against the demo's oracle and its cost: make bench-value BENCH_ARGS="--quick" (README, Benchmarks)
bench-value: $(VENV)/.dev
	$(PY) -m bench.value $(BENCH_ARGS)

# Monitor: the demo's alerts, their noise, the pass's speed and 10M-row RSS: make bench-monitor BENCH_ARGS="--sections alerts noise small" (README, Benchmarks)
bench-monitor: $(VENV)/.dev
	$(PY) -m bench.monitor $(BENCH_ARGS)
