# Every target does its own set-up: a fresh clone needs only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
API_PORT ?= 8001
API_HOST ?= 127.0.0.1

.PHONY: venv browser screenshots run psql lint format test test-citus container-test bench bench-citus soak soak-citus clean

venv: $(STAMP)

$(STAMP): setup.cfg setup.py
	@echo "make: installing the project and its dependencies into $(VENV) (first run only, about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

## Serve the API on http://$(API_HOST):$(API_PORT) (embedded PostgreSQL unless DATABASE_URL is set).
run: venv
	API_HOST=$(API_HOST) API_PORT=$(API_PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## Open psql on the embedded PostgreSQL (started for the session if `make run` is not running).
psql: venv
	@$(BIN)/python -m app.embedded psql

## Lint and type-check: ruff over the whole tree (ruff.toml), mypy over app/ and client/ (setup.cfg).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Rewrite the tree as `make lint` wants it (formatting and the fixes ruff can make safely).
format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Debian's chromium and chromium-driver, which the viewer's browser test drives (installed when missing;
## installing needs root or sudo).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	echo "make: installing Debian's chromium and chromium-driver for the viewer's browser test"; \
	sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium chromium-driver >/dev/null

## Lint, then run the whole test suite (TEST_DATABASE_URL if set, else an embedded PostgreSQL).
test: venv lint browser
	$(BIN)/pytest $(PYTEST_ARGS)

## Retake the README's screenshots of the viewer (docs/screenshots/) with its browser test.
screenshots: venv browser
	VIEWER_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/test_viewer_browser.py $(PYTEST_ARGS)

## The whole suite on a three-node Citus cluster (PostgreSQL 15 with the citus extension installed):
## starts it in a temporary directory, runs `init-db --distributed`, then `make test` at the coordinator.
test-citus: venv
	bash scripts/with-citus.sh $(MAKE) test

## Build the image and run the compose stack, Helm and lint checks (see scripts/container-test.sh).
container-test: venv
	bash scripts/container-test.sh

# bench imports the client and the example's scripted model as a user's project does: top-level modules
# from their folders (and harness/ from here, the current directory of `python -m`).
BENCH_PYTHONPATH := client:examples/session_agent

## Run the benchmark (about 3 minutes); results in bench/results/.
bench: venv
	PYTHONPATH=$(BENCH_PYTHONPATH)$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python -m bench

## The service on the machine's PostgreSQL 15 beside a three-node Citus cluster (about 3 minutes);
## results in bench/results/.
bench-citus: venv
	PYTHONPATH=$(BENCH_PYTHONPATH)$${PYTHONPATH:+:$$PYTHONPATH} bash scripts/with-citus.sh $(BIN)/python -m bench.citus

## Run the 60 s fault soak; results in bench/results/.
soak: venv
	PYTHONPATH=$(BENCH_PYTHONPATH)$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python -m bench.soak

## The 60 s soak on a three-node Citus cluster with a worker stopped and started again; results in bench/results/.
soak-citus: venv
	PYTHONPATH=$(BENCH_PYTHONPATH)$${PYTHONPATH:+:$$PYTHONPATH} bash scripts/with-citus.sh $(BIN)/python -m bench.citus_soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
