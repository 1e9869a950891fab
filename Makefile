# mmblend: `make demo`, `make test` (see README.md).
#   VENV=path        virtualenv to create/reuse (default .venv)
#   PYTHON=python3   interpreter used to create it
#   PYTEST_ARGS=...  what `make test` passes to pytest (PYTEST_ADDOPTS works too;
#                    default: one pytest-xdist worker per core, at most 4, a
#                    test file per worker, one torch thread each)
#   DEMO_ARGS=...    extra arguments for tools/demo.py
#   COMPAT_VENV=path, COMPAT_PYTHON=python3.10, COMPAT_CONSTRAINTS=file:
#                    `make test-compat`'s venv, interpreter (default: pyenv's
#                    3.10.x if there) and stack (docs/compat.md)
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= tests -q -n auto --maxprocesses 4 --dist loadfile
DEMO_ARGS ?=
# `make test-compat`: the old stack (requirements/constraints-compat.txt)
COMPAT_VENV ?= .venv-compat
COMPAT_CONSTRAINTS ?= requirements/constraints-compat.txt
COMPAT_PYTHON ?= $(firstword \
	$(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10) python3.10)

# the tests that compare numbers (model math, export parity, reference
# implementations, real-data fits), run by `make test-matrix`
MATRIX_TESTS ?= tests/models tests/deploy tests/integration tests/evaluation \
	tests/tools/test_adelaidet_equivalence.py \
	tests/tools/test_adelaidet2mmblend.py

# The linters, run by `make test` before pytest and by `make lint`:
# ruff's checks and formatter (ruff.toml) and codespell (.codespellrc)
LINT := $(PY) -m ruff check . && $(PY) -m ruff format --check . && \
	$(VENV)/bin/codespell

.PHONY: help venv install lint test test-matrix test-compat demo

help:
	@echo "make demo     install, then run tools/demo.py \$$(DEMO_ARGS)"
	@echo "make test     install, lint, then run the test suite (pytest \$$(PYTEST_ARGS))"
	@echo "make lint     install, then the linters only (ruff check, ruff format --check, codespell)"
	@echo "make install  create/reuse \$$(VENV) ($(VENV)) and install the pinned stack + mmblend"
	@echo "make test-matrix  the numeric tests under other CPU kernels and thread counts"
	@echo "make test-compat  the test suite on the old stack (Python 3.10, torch 2.1.2) in \$$(COMPAT_VENV)"

venv:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)

install: venv
	@VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/install.sh

lint: install
	@$(LINT)

# First the linters ($$(LINT)); lint errors fail `make test` before pytest
# runs, so $$PYTEST_RC_FILE stays empty ("not run").
# pytest's exit status is also written to $$PYTEST_RC_FILE when that is set
# (.ci/run uses it to accept exit 5, "no tests collected").
test: install
	@$(LINT) || { \
		if [ -n "$${PYTEST_RC_FILE:-}" ]; then : > "$$PYTEST_RC_FILE"; fi; \
		echo "make test: lint errors (ruff.toml, .codespellrc);" \
			"'$(PY) -m ruff check --fix . && $(PY) -m ruff format .'" \
			"fixes most, '$(VENV)/bin/codespell -w' the typos"; exit 1; }
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ -n "$${PYTEST_RC_FILE:-}" ]; then echo $$rc > "$$PYTEST_RC_FILE"; fi; \
	exit $$rc

# The numeric tests under each CPU kernel set torch and oneDNN can pick
# (as on another machine: AVX2-only, no SIMD) and at 1 and 2 threads.
test-matrix: install
	@VENV=$(VENV) bash scripts/test_matrix.sh $(MATRIX_TESTS)

# The whole suite on the old stack most mmdet 3.3 users have (Python 3.10,
# torch 2.1.2, mmcv 2.1.0 built from source; docs/compat.md). Not part of
# `make test`: the first run downloads ~2.5 GB and compiles mmcv.
test-compat:
	@start=$$(date +%s); \
	VENV=$(COMPAT_VENV) PYTHON=$(COMPAT_PYTHON) \
		CONSTRAINTS=$(COMPAT_CONSTRAINTS) \
		bash scripts/install.sh; \
	rc=0; $(COMPAT_VENV)/bin/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	echo "make test-compat: pytest exited $$rc after" \
		"$$(( $$(date +%s) - start )) s (install included)"; \
	exit $$rc

demo: install
	@$(PY) tools/demo.py $(DEMO_ARGS)
