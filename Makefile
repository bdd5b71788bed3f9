# PRAF — the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_HOME ?= $(CURDIR)/.demo-home
PYTEST_ARGS ?=
# the suite runs on 3 workers (pytest-xdist): many tests wait on loopback servers and subprocesses, so 3 beat 2 on
# the 2-core CI machine (710 s against 1,302 s serial); PYTEST_WORKERS=0 runs it serially
PYTEST_WORKERS ?= 3

.PHONY: demo test test-sqlite bench lint install system-deps screenshots clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

system-deps:
	scripts/install-system-deps.sh

## demo: install into .venv, then the whole chain on the offline sandbox, ending in the dashboard
## (in a terminal: `praf-tui --demo` shows scrape → fetch → QA progress in the dashboard, then runs the home's scheduler
## in it (--with-scheduler: the header shows it); without one, the headless twin)
demo: install
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/praf-tui --demo --with-scheduler --home "$(DEMO_HOME)"; \
	else $(BIN)/praf-engine --home "$(DEMO_HOME)" demo && \
	  echo "(no terminal: run '$(BIN)/praf-tui --home $(DEMO_HOME)' to open the dashboard)"; fi

## test: install what the tests need and run the whole suite on SQLite and a disposable PostgreSQL
test: install system-deps
	env -u NO_COLOR -u TEXTUAL_THEME REQUIRE_POSTGRES_TESTS=1 \
	  scripts/with-postgres.sh $(BIN)/python -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## test-sqlite: the suite without PostgreSQL (its PostgreSQL cases are skipped)
test-sqlite: install
	env -u NO_COLOR -u TEXTUAL_THEME -u DATABASE_URL $(BIN)/python -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/lake_write.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/scrape.py
	$(BIN)/python bench/fetch.py
	$(BIN)/python bench/qa.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/tui.py --neighbours 1
	$(BIN)/python bench/alerts.py
	$(BIN)/python bench/logs.py
	$(BIN)/python bench/tui_fixloop.py threshold
	$(BIN)/python bench/tui_fixloop.py refetch
	$(BIN)/python bench/daemon.py

screenshots: install
	$(BIN)/python scripts/screenshots.py

lint: install
	$(BIN)/ruff check praf_engine praf_tui tests bench

clean:
	rm -rf $(VENV) .demo-home .pytest_cache build *.egg-info
