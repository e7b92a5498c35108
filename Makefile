# Huntaze — `make run` starts the local stack, `make test` runs every check CI runs.
# `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PORT ?= 8000
# pytest-xdist processes for the SQLite run (each starts its own Redis and moto server).
PYTEST_WORKERS ?= 2
# Debian's chromium for the page tests; `make test INSTALL_CHROMIUM=0` skips its install.
INSTALL_CHROMIUM ?= 1
REPORTS := var/test-reports

# Extras the test run installs: `test`, plus `bench` once pyproject.toml defines it.
TEST_EXTRAS := test$(shell grep -qE '^bench *= *\[' pyproject.toml && echo ,bench)

.DEFAULT_GOAL := help
.PHONY: help install run test test-sqlite test-postgres lint bench chaos system-packages clean distclean

help: ## list the targets
	@echo "Huntaze OnlyFans CRM"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'
	@echo "Variables: PORT=$(PORT) PYTHON=$(PYTHON) PYTEST_WORKERS=$(PYTEST_WORKERS) INSTALL_CHROMIUM=$(INSTALL_CHROMIUM)"

# --- virtualenv: created once, packages reinstalled only when pyproject.toml changes ----------
$(PY):
	@$(PYTHON) -c 'import sys; ok = (3, 11) <= sys.version_info[:2] <= (3, 13); \
	  ok or sys.exit(f"Huntaze needs Python 3.11, 3.12 or 3.13; $(PYTHON) is {sys.version.split()[0]}. Run: make run PYTHON=python3.12")' \
	  || { echo "Python not found or unsupported: set PYTHON to a Python 3.11-3.13 interpreter" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): on Debian, apt-get install python3-venv" >&2; rm -rf $(VENV); exit 1; }

$(VENV)/.installed-local: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[local]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[$(TEST_EXTRAS)]'
	@touch $@

install: $(VENV)/.installed-local ## create .venv and install the project with the local stack

# --- the local stack -------------------------------------------------------------------------
run: $(VENV)/.installed-local ## run the whole local stack in the foreground (PORT=8000)
	@exec $(PY) scripts/localstack.py --port $(PORT)

# --- checks ----------------------------------------------------------------------------------
system-packages: ## install the Debian packages the tests need (only what is missing)
	@INSTALL_CHROMIUM=$(INSTALL_CHROMIUM) bash scripts/system-packages.sh

lint: $(VENV)/.installed-test ## ruff (rules and format) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_DEBUG=true HUNTAZE_LOCAL_ENV_FILE= $(VENV)/bin/mypy

test: system-packages lint test-sqlite test-postgres ## everything CI runs: lint, tests on SQLite, concurrency tests on PostgreSQL
	@$(PY) scripts/test_summary.py $(REPORTS)/sqlite.xml $(REPORTS)/postgres.xml

test-sqlite: $(VENV)/.installed-test ## the whole suite on SQLite
	@rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	env -u DATABASE_URL $(PY) -m pytest -n $(PYTEST_WORKERS) --junitxml=$(REPORTS)/sqlite.xml

# pytest exits 5 when nothing is marked `concurrency` yet: that is not a failure here.
test-postgres: $(VENV)/.installed-test ## the `concurrency` tests on a throwaway PostgreSQL cluster
	@mkdir -p $(REPORTS)
	@$(PY) scripts/with_postgres.py -- \
		$(PY) -m pytest -n $(PYTEST_WORKERS) -m concurrency --junitxml=$(REPORTS)/postgres.xml; \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "No test is marked concurrency yet: nothing to run on PostgreSQL."; \
	elif [ $$status -ne 0 ]; then exit $$status; fi

bench: $(VENV)/.installed-test ## run every bench/*.py; JSON reports go to bench/reports/
	@mkdir -p bench/reports
	@status=0; found=0; \
	for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		case "$$(basename $$script)" in _*|conftest.py) continue;; esac; \
		found=1; echo "== $$script"; \
		BENCH_REPORTS_DIR=bench/reports $(PY) "$$script" || status=1; \
	done; \
	[ $$found -eq 1 ] || echo "No benchmark in bench/ yet."; \
	exit $$status

chaos: $(VENV)/.installed-test ## the full chaos scenarios on real components; writes bench/reports/chaos.json
	@mkdir -p bench/reports
	BENCH_REPORTS_DIR=bench/reports $(PY) bench/chaos.py

clean: ## remove local data (var/: SQLite, Redis data), logs and caches; keeps .venv
	rm -rf var logs .pytest_cache .ruff_cache .hypothesis build *.egg-info bench/reports/*.tmp
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## clean, and remove .venv too
	rm -rf $(VENV)
