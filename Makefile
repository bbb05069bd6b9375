# Two commands matter: `make run` (the portal with its demo) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PORT ?= 8000
# Webhooks (the demo's Nuki Web stand-in) are sent to the portal's own address.
RUN_SITE_URL := $(or $(LATCHKEY_SITE_URL),http://localhost:$(PORT))

.PHONY: run test lint bench messages clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

## run: web + worker + beat with a seeded demo organization (Ctrl-C stops all of them)
# demo/run_env.py: the stand-ins' ports (derived from PORT, or free: two checkouts run side by
# side; a taken PORT, or a taken port you set, stops here naming the variable) and the demo's
# Nuki Web OAuth client (the stand-in's). The web, worker and stand-ins read them from there.
RUN_ENV := var/run.env
run: $(VENV)/.runtime
	@mkdir -p var && $(BIN)/python -m demo.run_env $(PORT) > $(RUN_ENV)
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	set -a && . ./$(RUN_ENV) && LATCHKEY_SITE_URL=$(RUN_SITE_URL) $(BIN)/python manage.py seed_demo
	@echo "Open http://localhost:$(PORT)/ and sign in with the login above."
	set -a && . ./$(RUN_ENV) && LATCHKEY_SITE_URL=$(RUN_SITE_URL) PATH="$(BIN):$$PATH" \
		$(BIN)/honcho start -f Procfile -p $(PORT)

## test: the whole suite (integration tests need DATABASE_URL=postgres://... and a Redis broker)
test: $(VENV)/.dev
	$(BIN)/pytest -rs

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.dev
	$(BIN)/python bench/ingest_floor.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/bridge_actions.py
	$(BIN)/python bench/nukiweb_codes.py
	$(BIN)/python bench/fleet_budget.py
	$(BIN)/python bench/stay_page.py
	$(BIN)/python bench/ical_feeds.py
	$(BIN)/python bench/pms_webhooks.py
	$(BIN)/python bench/ble_frames.py
	$(BIN)/python bench/ble_latency.py
	$(BIN)/python bench/noisy_neighbour.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/fleet.py

## messages: refresh the German catalogue from the code, then compile it (commit both files)
messages: $(VENV)/.dev
	$(BIN)/python manage.py makemessages -l de --no-obsolete --ignore=.venv --ignore=var \
		--ignore=bench --ignore='locks/simulators/*' --ignore='locks/nuki/*' --ignore='locks/agent/*'
	msgfmt --check -o locale/de/LC_MESSAGES/django.mo locale/de/LC_MESSAGES/django.po

clean:
	rm -rf var staticfiles
