# make run   - create .venv if missing, install, serve config/gateway.yaml on 127.0.0.1:8080
# make test  - create .venv if missing, install with test extras, run the whole suite
# make lint  - ruff
# make bench - throughput and latency against a real `gateway serve`, for a PII-heavy
#              purchase and a PII-free page view (see bench/README.md)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint bench schema clean redis-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.run-installed

var/gateway_secret:
	@mkdir -p var
	@$(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))' > $@
	@chmod 600 $@

run: $(VENV)/.run-installed var/gateway_secret
	@if [ -z "$$GATEWAY_SECRET" ]; then echo "GATEWAY_SECRET not set: using the one generated in var/gateway_secret"; fi
	GATEWAY_SECRET="$${GATEWAY_SECRET:-$$(cat var/gateway_secret)}" \
	  $(BIN)/gateway serve --config config/gateway.yaml --host $(HOST) --port $(PORT)

# the Redis store's tests run a real redis-server (CI is a fresh Debian machine, as root)
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }

test: $(VENV)/.test-installed redis-server
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

BENCH_ARGS ?=
bench: $(VENV)/.test-installed
	$(BIN)/python bench/run.py --event examples/events/purchase.json $(BENCH_ARGS)
	$(BIN)/python bench/run.py --event examples/events/page_view.json $(BENCH_ARGS)

schema: $(VENV)/.run-installed
	$(BIN)/gateway schema > config/gateway.schema.json

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
