# PokerPay: `make run` runs the whole system, `make test` runs the whole suite.
# Both set everything up first on a fresh machine (venv, packages, assets, catalogs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: setup run test browser-test screenshots migrate seed chaos chaos-short bench assets translations extract-messages clean

setup: $(VENV)/.requirements-installed app/static/vendor/.installed translations

$(VENV)/.requirements-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# htmx and Pico come from pinned npm packages (package-lock.json); no CDN, so the CSP stays self-only.
app/static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p app/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/@picocss/pico/css/pico.min.css app/static/vendor/
	touch $@

assets: app/static/vendor/.installed

translations: $(VENV)/.requirements-installed
	$(BIN)/pybabel -q compile -d app/translations

extract-messages: $(VENV)/.requirements-installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot .
	$(BIN)/pybabel -q update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

migrate: setup
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask users seed-demo

run: seed
	$(BIN)/python bin/run_dev.py

# The package layers first (pyproject.toml [tool.importlinter], docs/architecture.md): an upward import or a
# circle fails the build before a single test runs.
# Two pytest-xdist workers (one per core here; PYTEST_WORKERS=0 runs in one process): each has its own
# PostgreSQL database and Redis database (tests/conftest.py).  Tests are dealt one by one and an idle
# worker takes over the other's queue (--dist worksteal): kept by file, the browser journeys alone held one
# worker for minutes while the other sat idle.  Three workers ran out of PostgreSQL's 100 connections.
PYTEST_WORKERS ?= 2
test: setup
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal

# Just the browser journeys (Playwright + /usr/bin/chromium); screenshots land in test-artifacts/screenshots/.
browser-test: setup
	$(BIN)/pytest -m browser tests/browser

# The README's pictures: rerun the browser journeys, then copy the views they saved (test-artifacts/readme/,
# viewport-sized, desktop and phone) to docs/screenshots/; says so if one outgrew 150 KB.
screenshots: setup
	rm -rf test-artifacts/readme
	$(BIN)/pytest -q -m browser tests/browser
	mkdir -p docs/screenshots
	cp test-artifacts/readme/*.png docs/screenshots/
	@big=$$(find docs/screenshots -name '*.png' -size +150k); \
	  if [ -n "$$big" ]; then echo "over 150 KB (crop or drop them before committing): $$big"; fi
	@ls -l docs/screenshots

# The bank test (tests/chaos/): the whole system under load and faults for ~20 minutes, then every check.
# CHAOS_SEED=<n> repeats a run's schedule; `make chaos-short` is the ~2-minute mode that `make test` runs.
chaos: setup
	$(BIN)/python -m tests.chaos.driver --mode long

chaos-short: setup
	$(BIN)/python -m tests.chaos.driver --mode short

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules app/static/vendor .pytest_cache
