# Everything runs from the project's own virtual environment (.venv), built
# from the hashed lock in requirements/. Settings come from the environment,
# then .env (created from .env.example when missing), then defaults; the
# Makefile itself sets none, so the environment always wins.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/common libs/proto libs/web services/booking-core services/gateway services/notifier services/reminder-worker services/mail-worker services/payment-service
INSTALLED := $(VENV)/.installed

.PHONY: web web-install web-lint web-test help install lock proto proto-check migrate seed user lint test test-unit test-integration test-e2e dev run-core run-gateway run-notifier run-worker run-mail-worker run-mail-sink run-payments token bench bench-reminders bench-notifier bench-tickets bench-bad-traffic clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## create .venv and install everything from the hashed lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(PACKAGES))
	touch $(INSTALLED)

$(INSTALLED): requirements/dev.lock
	$(MAKE) install

.env:
	cp .env.example .env

lock: $(INSTALLED) ## re-resolve dependencies into requirements/*.lock (needs uv from .venv)
	$(BIN)/uv lock --quiet
	$(BIN)/uv export --quiet --frozen --all-packages --no-emit-workspace --group dev \
	    --format requirements-txt --no-header -o requirements/dev.lock
	$(BIN)/uv export --quiet --frozen --package booking-core --no-emit-workspace --no-dev \
	    --format requirements-txt --no-header -o requirements/booking-core.lock
	$(BIN)/uv export --quiet --frozen --package gateway --no-emit-workspace --no-dev \
	    --format requirements-txt --no-header -o requirements/gateway.lock
	$(BIN)/uv export --quiet --frozen --package notifier --no-emit-workspace --no-dev \
	    --format requirements-txt --no-header -o requirements/notifier.lock
	$(BIN)/uv export --quiet --frozen --package reminder-worker --no-emit-workspace --no-dev \
	    --format requirements-txt --no-header -o requirements/reminder-worker.lock
	$(BIN)/uv export --quiet --frozen --package mail-worker --no-emit-workspace --no-dev \
	    --format requirements-txt --no-header -o requirements/mail-worker.lock
	$(BIN)/uv export --quiet --frozen --package payment-service --no-emit-workspace --no-dev \
	    --format requirements-txt --no-header -o requirements/payment-service.lock
	rm -f uv.lock

proto: $(INSTALLED) ## regenerate libs/proto from protos/ with betterproto2
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python scripts/gen_proto.py

migrate: $(INSTALLED) .env ## create the database if missing, then alembic upgrade head on DATABASE_URL
	$(BIN)/python scripts/create_database.py
	$(BIN)/alembic upgrade head

seed: migrate ## create the demo organisation, admin, provider, customer, event type (idempotent); print them
	$(BIN)/python -m booking_core.seed

user: migrate ## create a staff user: make user EMAIL=... ROLE=admin|provider [NAME= TIME_ZONE= ORGANISATION=]
	@test -n "$(EMAIL)" -a -n "$(ROLE)" || { echo "usage: make user EMAIL=<email> ROLE=admin|provider" >&2; exit 2; }
	@$(BIN)/python -m booking_core.users --email "$(EMAIL)" --role "$(ROLE)" --name "$(NAME)" \
	    --time-zone "$${TIME_ZONE:-UTC}" --organisation "$(ORGANISATION)"

lint: $(INSTALLED) web-lint ## ruff and mypy; tsc and eslint for web/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy bench

test: $(INSTALLED) web web-test ## every test: web/ (Vitest), then unit, integration and end to end (pytest, Playwright)
	$(BIN)/python -m pytest

# The web app (web/, Node.js 20.19+). Without npm these say so and do nothing, except
# on CI (CI set), where that is a failure. Playwright never downloads a browser: the
# end-to-end tests drive Debian's chromium.
NPM_OR_SKIP = if ! command -v npm >/dev/null; then \
	  if [ -n "$$CI" ]; then echo "npm is not installed (CI needs Node.js 20.19+)" >&2; exit 1; fi; \
	  echo "web: skipped, Node.js/npm not installed (https://nodejs.org)"; exit 0; fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

web-install: ## npm ci in web/ (when package-lock.json changed)
	@$(NPM_OR_SKIP); if [ ! web/node_modules/.package-lock.json -nt web/package-lock.json ]; then \
	  cd web && npm ci --no-audit --no-fund; fi

web: web-install ## build the web app into web/dist, which the gateway serves (make lint type-checks it)
	@$(NPM_OR_SKIP); cd web && npm run --silent bundle

web-lint: web-install ## tsc and eslint on web/
	@$(NPM_OR_SKIP); cd web && npm run --silent typecheck && npm run --silent lint

web-test: web-install ## the web app's component tests (Vitest + Testing Library)
	@$(NPM_OR_SKIP); cd web && npm test --silent

test-unit: $(INSTALLED) ## unit tests only (no I/O)
	$(BIN)/python -m pytest tests/unit

test-integration: $(INSTALLED) ## integration tests only
	$(BIN)/python -m pytest tests/integration

test-e2e: $(INSTALLED) .env ## the end-to-end test: the whole system started with make dev
	$(BIN)/python -m pytest tests/e2e

dev: $(INSTALLED) .env ## run the whole system (core, gateway, 2 notifiers, workers, mail sink) with prefixed logs
	$(BIN)/python scripts/dev.py

run-core: seed ## migrate, seed, then run booking-core on GRPC_PORT (50051)
	$(BIN)/booking-core

run-gateway: $(INSTALLED) .env ## run the REST gateway on PORT (8080), calling CORE_GRPC_TARGET
	$(BIN)/gateway

run-notifier: $(INSTALLED) .env ## run a notifier replica on PORT (8090); PORT=8091 for a second one
	$(BIN)/notifier

# dramatiq_worker_timeout: idle consumers poll every 100 ms (dramatiq's default is
# 1000), which bounds how late a reminder can be.
run-worker: $(INSTALLED) .env ## run the reminder worker (dramatiq, queue reminders)
	dramatiq_worker_timeout=$${dramatiq_worker_timeout:-100} $(BIN)/dramatiq reminder_worker.broker \
	    --processes $${WORKER_PROCESSES:-1} --threads $${WORKER_THREADS:-8} --queues reminders --skip-logging

run-mail-worker: $(INSTALLED) .env ## run the mail worker (dramatiq, queue mail), sending through SMTP_HOST:SMTP_PORT
	$(BIN)/dramatiq mail_worker.broker --processes $${WORKER_PROCESSES:-1} --threads $${WORKER_THREADS:-4} \
	    --queues mail --skip-logging

run-mail-sink: $(INSTALLED) .env ## run the development SMTP sink on SMTP_PORT (1025), storing mail under var/mail
	$(BIN)/python -m mail_worker.sink

run-payments: $(INSTALLED) .env ## run payment-service (dramatiq, queue payments; the mock provider)
	$(BIN)/dramatiq payment_service.broker --processes 1 --threads $${WORKER_THREADS:-4} \
	    --queues payments --skip-logging

bench: $(INSTALLED) ## every benchmark (the system and its baselines, the code before issue 18, reminders, notifier, tickets) into bench/RESULTS.md (~30 min)
	$(BIN)/python bench/system.py $(BENCH_ARGS)

bench-reminders: $(INSTALLED) ## benchmark: 10,000 reminders due over two minutes, then 5,000 due at one second (about 6 minutes)
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/reminders.py --burst 5000

bench-bad-traffic: $(INSTALLED) ## benchmark: 50,000 malformed requests against the gateway while good ones are timed (about 30 s)
	$(BIN)/python bench/bad_traffic.py

bench-tickets: $(INSTALLED) ## benchmark: holds on one hot event (1,000 seats, 200 buyers) and 10,000 expiring holds (about 2 minutes)
	$(BIN)/python bench/tickets.py

bench-notifier: $(INSTALLED) ## benchmark: 5,000 WebSocket clients on two notifier replicas, 1,000 bookings (about 1 minute)
	$(BIN)/python bench/notifier.py

token: $(INSTALLED) .env ## print a development token: make token ROLE=customer|provider ID=<uuid>
	@test -n "$(ROLE)" -a -n "$(ID)" || { echo "usage: make token ROLE=customer|provider ID=<uuid>" >&2; exit 2; }
	@$(BIN)/python -m gateway.token --role "$(ROLE)" --id "$(ID)"

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
