# Linli developer commands. Everything installs itself into ./.venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser run migrate demo test lint format openapi bench lock clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Linli needs Python 3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Apply the database migrations (SQLite under ./var by default; DATABASE_URL overrides).
migrate: install
	$(VENV)/bin/alembic upgrade head

## Load the demo subdistrict (idempotent).
demo: migrate
	$(PY) -m app.demo

## Install, migrate, load the demo data and serve on http://127.0.0.1:$(PORT) (docs at /docs).
run: demo
	$(VENV)/bin/uvicorn app.main:app --host 127.0.0.1 --port $(PORT) --timeout-graceful-shutdown 5

## Debian's Chromium for the browser tests (tests/e2e); Playwright never downloads a browser.
browser:
	@test -x /usr/bin/chromium || { echo "installing chromium from Debian's packages …"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	  apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }

## Install and run the whole test suite (add PostgreSQL with LINLI_TEST_POSTGRES_URL=...).
test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Regenerate the checked-in OpenAPI document.
openapi: install
	$(PY) -m app.openapi_export > openapi/openapi.json

## Benchmark on loopback (needs wrk; installed from Debian's packages when missing): BENCH_ARGS="--tickets 1000000"
bench: install
	$(PY) -m bench $(BENCH_ARGS)

## Re-pin requirements.lock from a clean virtualenv.
lock:
	rm -rf /tmp/linli-lock && $(PYTHON) -m venv /tmp/linli-lock
	/tmp/linli-lock/bin/pip install --quiet -e '.[dev]'
	{ echo "# Pinned versions the project is tested with; used as pip constraints by the Makefile."; \
	  echo "# Regenerate with: make lock"; /tmp/linli-lock/bin/pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf $(VENV) var
