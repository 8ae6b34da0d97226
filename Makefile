# Everything runs from a virtual environment in .venv that the first target
# creates, so a fresh machine needs only Python 3.11, Java 17 and Maven.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint unit integration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make demo: local Kafka + Pinterest sandbox + sample events + one delivery run
demo: $(STAMP)
	$(BIN)/converge-pinterest demo

## make test: lint, type checks, unit and integration tests (starts its own Kafka)
test: lint
	$(BIN)/converge-pinterest kafka --fetch-only
	$(BIN)/python -m pytest -ra

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -ra tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -ra tests/integration

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
