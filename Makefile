# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-sqlite test-postgres bench bench-sqlite lint format messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# A key of this checkout's own for `make run` (never committed): the public development key
# is refused wherever DEBUG is off.
.secret_key:
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@chmod 600 $@

## Serve the dashboard on http://127.0.0.1:8000 (`make run PORT=8001` for another port) from a
## SQLite file, with reference and sample data, static files collected.
PORT ?= 8000
run: export SECRET_KEY = $(shell cat .secret_key 2>/dev/null)
run: export HTTPS = false
run: $(VENV)/.runtime .secret_key
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_reference_data
	$(BIN)/python manage.py load_sample_data
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# How each database's suite is run, by `test` and by `test-sqlite` / `test-postgres`.
SQLITE_PYTEST = $(BIN)/pytest -o cache_dir=test-results/sqlite-cache --output=test-results/sqlite
POSTGRES_PYTEST = $(BIN)/python tests/pgserver.py -- $(BIN)/pytest --output=test-results/postgres

## The whole suite on SQLite and on a throwaway PostgreSQL, both at once (one per core: the
## suite takes about 45 minutes instead of 80); fails if either fails. The PostgreSQL run
## reports as it goes; the SQLite run writes to test-results/sqlite.log, shown when both end.
## Each has its own pytest cache (--lf works) and Playwright folder; Ctrl-C stops both (a job
## put in the background by a script ignores Ctrl-C: the trap stops it).
test: $(VENV)/.dev
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	@mkdir -p test-results; \
	$(SQLITE_PYTEST) $(PYTEST_ARGS) > test-results/sqlite.log 2>&1 & sqlite=$$!; \
	trap 'kill $$sqlite 2>/dev/null; wait $$sqlite; exit 130' INT TERM HUP; \
	echo "== PostgreSQL (SQLite runs beside it, into test-results/sqlite.log) =="; \
	$(POSTGRES_PYTEST) $(PYTEST_ARGS); \
	postgres=$$?; wait $$sqlite; sqlite=$$?; \
	echo "== SQLite =="; cat test-results/sqlite.log; \
	echo "== SQLite: $$([ $$sqlite = 0 ] && echo passed || echo FAILED)," \
		"PostgreSQL: $$([ $$postgres = 0 ] && echo passed || echo FAILED) =="; \
	[ $$sqlite = 0 ] && [ $$postgres = 0 ]

test-sqlite: $(VENV)/.dev
	$(SQLITE_PYTEST) $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev
	$(POSTGRES_PYTEST) $(PYTEST_ARGS)

## Benchmark on a throwaway PostgreSQL with a generated national-scale data set (not part of test).
## BENCH_ARGS="--lines 200000 --villages 20000" for a quicker run; results also in bench-results.json.
bench: $(VENV)/.dev
	HTTPS=false PLAIN_STATIC_STORAGE=true $(BIN)/python tests/pgserver.py -- \
		$(BIN)/python manage.py bench $(BENCH_ARGS)

## The same on SQLite, the embedded database, at a single county's size (a throwaway file);
## results also in bench-results-sqlite.json.
bench-sqlite: $(VENV)/.dev
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	HTTPS=false PLAIN_STATIC_STORAGE=true DATABASE_URL="sqlite:///$$dir/bench.sqlite3" \
		$(BIN)/python manage.py bench --lines 20000 --villages 300 \
		--json bench-results-sqlite.json $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Refresh the Chinese catalogue after changing user-facing strings, then compile it.
messages: $(VENV)/.dev
	$(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --add-location file \
		--ignore=.venv --ignore=staticfiles --ignore=tests
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
