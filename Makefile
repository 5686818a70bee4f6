# detainer-tracker: the two commands a new machine needs are `make run` and `make test`.
# Everything they need is installed here: the virtual environment and Python packages, Debian packages
# (kcat; Java and Maven if missing) and the Kafka jars from Maven Central.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test unit integration bench lint kubernetes venv system-deps jars broker-start broker-stop clean help

help:
	@echo "make run    - start Kafka, create the topics and stream simulated jail events (Ctrl-C stops all)"
	@echo "make test   - install everything and run the whole test suite against a real broker"
	@echo "make unit   - only the fast tests that need no broker"
	@echo "make bench  - benchmarks (writes BENCHMARKS.md)"
	@echo "make lint   - ruff"
	@echo "make kubernetes - write deploy/kubernetes/ from the topics, roles, alerts and dashboards"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages: kcat is the independent Kafka client the tests read our output with; the broker needs a
# Java 17+ runtime and Maven fetches its jars; Prometheus (with promtool) checks and runs the alert rules and
# evaluates the dashboards' queries; headless Chromium and chromedriver open the replay's HTML report.
system-deps:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn  >/dev/null 2>&1 || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

jars: venv system-deps
	$(BIN)/detainer-tracker broker fetch

run: venv system-deps jars
	bash deploy/local/run.sh

test: venv system-deps jars
	$(BIN)/pytest $(PYTEST_ARGS) tests

unit: venv
	$(BIN)/pytest $(PYTEST_ARGS) tests/unit

integration: venv system-deps jars
	$(BIN)/pytest $(PYTEST_ARGS) tests/integration

bench: venv system-deps jars
	$(BIN)/python -m benchmarks.run

lint: venv
	$(BIN)/ruff check streams tests benchmarks

kubernetes: venv
	$(BIN)/detainer-tracker deploy kubernetes

broker-start: venv jars
	$(BIN)/detainer-tracker broker start

broker-stop: venv
	$(BIN)/detainer-tracker broker stop

clean:
	-$(BIN)/detainer-tracker broker stop
	rm -rf .local/broker
