# Developer entry points. Needs only python3 (>= 3.11) and access to the package index.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint bench demo

install: $(VENV)/.installed

# Re-installs whenever pyproject.toml changes (new dependency, new console script).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

run: install
	$(VENV)/bin/govperf up

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services

bench: install
	$(PY) -m bench

# A whole appraisal year through the gateway of a running `make run` (GOVPERF_ADMIN_PASSWORD set).
demo: install
	$(VENV)/bin/govperf demo
