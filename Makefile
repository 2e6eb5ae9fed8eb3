# Collections outreach platform. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAFKA_LIB := deploy/kafka/lib/.stamp
KAFKA_DIR ?= var/kafka
KAFKA_PORT ?= 9092
KAFKA_FLAGS ?=
export COLLECTIONS_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)

.PHONY: help setup test test-unit test-integration test-e2e test-fault lint format schemas demo demo-up demo-down up down

include deploy/prometheus/prometheus.mk
include deploy/docker/compose.mk
include deploy/bench.mk
include deploy/chromium.mk

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/\$$(KAFKA_PORT)/$(KAFKA_PORT)/g' \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

setup: $(VENV)/.stamp $(KAFKA_LIB) ## Virtual environment in .venv/ with pinned dependencies, and the Kafka jars

$(VENV)/.stamp: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(KAFKA_LIB): deploy/kafka/pom.xml $(VENV)/.stamp
	$(PY) -m devtools.localkafka jars
	@touch $@

test: setup prometheus compose-check-tool chromium ## Run every test tier (unit, integration, e2e, fault); Kafka is started by the tests
	@$(PY) -m devtools.tiers unit integration e2e fault

test-unit: setup ## Pure logic only, no I/O
	@$(PY) -m devtools.tiers unit

test-integration: setup prometheus compose-check-tool chromium ## Real Kafka, SMTP and HTTP sandboxes
	@$(PY) -m devtools.tiers integration

test-e2e: setup ## Whole flows on the shared clock
	@$(PY) -m devtools.tiers e2e

test-fault: setup ## Kills, restarts, provider faults, malformed input
	@$(PY) -m devtools.tiers fault

lint: setup ## ruff (lint and format check), mypy strict, the import contracts, code written twice
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pylint --score=n schemas services devtools

format: setup ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schemas: setup ## Regenerate schemas/json and schemas/asyncapi.json from the models
	$(PY) -m schemas.generate

up: setup ## Start the local Kafka broker on 127.0.0.1:$(KAFKA_PORT) (KAFKA_PORT=N for another port; SASL_SSL; KAFKA_FLAGS=--insecure for PLAINTEXT), apply the catalog and its ACLs
	$(PY) -m devtools.localkafka start --dir $(KAFKA_DIR) --port $(KAFKA_PORT) $(KAFKA_FLAGS)
	eval "$$($(PY) -m devtools.localkafka env --dir $(KAFKA_DIR) --principal admin)" && $(PY) -m services.core.catalog apply

down: ## Stop the local Kafka broker, if one runs
	@test -x $(PY) && $(PY) -m devtools.localkafka stop --dir $(KAFKA_DIR) || true

demo: setup ## The whole platform end to end: 2,000 simulated debtors over 60 days (ARGS="--size N --days N")
	$(PY) -m devtools.demo $(ARGS)

demo-up: setup ## Serve the last demo's event log again (its broker from var/demo/kafka, on 127.0.0.1:19092) and say how to query it
	$(PY) -m devtools.demo up

demo-down: ## Stop the broker demo-up started
	@test -x $(PY) && $(PY) -m devtools.demo down || true
