# descent: `make run` serves the embedded mode, `make test` runs the whole suite,
# `make lint` runs ruff (lint and format) and mypy.
# The install step is idempotent: it reruns only when a pyproject file changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SDK := $(if $(wildcard sdk/pyproject.toml),-e sdk)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(wildcard sdk/pyproject.toml) | sha256sum | cut -c1-16)
PIP_FLAGS := --disable-pip-version-check --progress-bar off

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -q -e ".[dev]" $(SDK)
	rm -f $(VENV)/.installed-*
	touch $@

run: install
	$(VENV)/bin/descent-server dev

# Needs PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) up; the tests start their
# own servers and workers.
# One BLAS thread per process: on 2 cores, threaded BLAS in parallel test processes stalls.
test: install
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

# ruff over everything; mypy over the server and, apart (its own top-level package), the SDK.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy descent_server
	$(PY) -m mypy sdk/src

bench: install  # the bench extra: mlflow for section M
	$(PY) -m pip install $(PIP_FLAGS) -q -e ".[bench]"
	$(PY) -m bench

clean:
	rm -rf $(VENV) descent-data .pytest_cache .mypy_cache .ruff_cache
