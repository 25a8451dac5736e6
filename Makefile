# scimgate: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export SCIMGATE_DATABASE_URL ?= sqlite:///scimgate.db

.PHONY: run test test-fast lint install migrate conformance bench clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install  ## migrate, create the demo account, print Tenant URL and token, serve on 127.0.0.1:8000
	$(VENV)/bin/scimgate demo

# Tests run in TEST_WORKERS pytest-xdist workers, spread test by test (`--dist loadgroup`: a
# file whose tests share a module-scoped server stays on one worker, see tests/conftest.py);
# `make test TEST_WORKERS=0` runs them serially in one process.
# PYTEST_ARGS is passed on, e.g. PYTEST_ARGS='-k sync -x'.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint  ## lint, then the whole suite (set SCIMGATE_TEST_DATABASE_URL to run it on PostgreSQL)
	$(PYTEST)

lint: install  ## ruff (rules in pyproject.toml) and mypy --strict on scim/, sync/changes.py and states.py
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

test-fast: install  ## the suite without slow tests and without tests that start processes (markers)
	$(PYTEST) -m "not slow and not process"

migrate: install
	$(VENV)/bin/scimgate migrate

conformance: install  ## scim2-tester against a freshly served instance
	bash scripts/conformance.sh $(PY)

bench: install  ## the SCIM benchmark against scim2-server (see benchmarks/README.md)
	$(PY) benchmarks/bench_scim.py

lock:  ## refresh constraints.txt from the current venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^scimgate' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info src/*.egg-info
