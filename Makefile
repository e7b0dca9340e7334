# cspflow: every target sets up what it needs on first use and is safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_WORKERS ?= auto

.PHONY: help setup lint format test bench run demo clean

help:
	@echo "make run    start Azurite, the sandboxes and devhost on http://127.0.0.1:7071"
	@echo "make test   the whole suite (installs everything on first use)"
	@echo "make lint   ruff + mypy"
	@echo "make format ruff format + the lint fixes ruff can make"
	@echo "make bench  benchmarks, printed as a table and written to bench/out/"
	@echo "make demo   a simulated book of customers over months of virtual time (needs the lifecycle workflows)"

$(PY_STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(PY_STAMP) $(NODE_STAMP)

lint: $(PY_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(PY_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)
	@echo "shared/policy: every branch of the pure rules is tested (fails under 100 %)"
	$(PY) -m coverage report --include='shared/policy/*' --fail-under=100

bench: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m bench

# Ports and options: make run RUN_ARGS="--port 7072 --azurite-ports 0,0,0" (0 = any free port).
RUN_ARGS ?=

run: $(PY_STAMP) $(NODE_STAMP)
	@if [ -f devhost/__main__.py ]; then \
		exec $(PY) -m devhost run-stack $(RUN_ARGS); \
	else \
		echo "make run needs the local host (devhost/), which this checkout does not have yet." >&2; \
		exit 2; \
	fi

demo: $(PY_STAMP) $(NODE_STAMP)
	@if [ -f devhost/demo.py ]; then \
		$(PY) -m devhost.demo; \
	else \
		echo "make demo needs the lifecycle workflows and its driver (devhost/demo.py), not in this checkout yet." >&2; \
		exit 2; \
	fi

clean:
	rm -rf $(VENV) node_modules .azurite .devhost .sandbox .pytest_cache .mypy_cache .ruff_cache .coverage* bench/out
