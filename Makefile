# calsync: `make run` brings up a working calsync, `make test` runs the whole test suite.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python

# Under CI (CI=true) the suite runs on the machine's PostgreSQL and Redis.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export REDIS_URL ?= redis://127.0.0.1:6379/15
export CACHE_URL ?= redis://127.0.0.1:6379/14
endif

.PHONY: run test lint format bench mutation clean

$(VENV)/.run-deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.run-deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) scripts/devstack.py

test: $(VENV)/.test-deps
	scripts/ensure-chromium.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.test-deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.test-deps
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Mutation testing, not part of `make test`: killed/survived counts per module (MODULES="sync/engine.py" for one).
MODULES ?= accounts/tenancy.py sync/engine.py dav/services.py integrations/addresses.py
mutation: $(VENV)/.test-deps
	$(PY) scripts/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) var staticfiles test-artifacts .pytest_cache .ruff_cache .hypothesis
