# scimgate: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export SCIMGATE_DATABASE_URL ?= sqlite:///scimgate.db

.PHONY: run test test-fast install migrate conformance bench clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install  ## migrate, create the demo account, print Tenant URL and token, serve on 127.0.0.1:8000
	$(VENV)/bin/scimgate demo

test: install  ## the whole suite (set SCIMGATE_TEST_DATABASE_URL to run it on PostgreSQL)
	$(PY) -m pytest -q

test-fast: install  ## the suite without browsers, served processes and the 20,000 hostile requests
	$(PY) -m pytest -q --ignore=tests/browser --ignore=tests/hostile --ignore=tests/sync_process

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
