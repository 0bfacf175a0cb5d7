# The README's two commands: `make demo` and `make test`. Both create and reuse
# .venv and install the pinned dependencies (requirements/lock.txt) first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WHEELS ?= $(HOME)/.cache/heron/wheels
STAMP := $(VENV)/.heron-installed
PIP := $(BIN)/pip install --find-links $(WHEELS) -c requirements/lock.txt

.PHONY: setup demo test lint typecheck bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt requirements/bundled.txt scripts/setup.sh scripts/llama_wheel.sh
	PYTHON=$(PYTHON) HERON_WHEEL_CACHE=$(WHEELS) scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(BIN)/heron demo

test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: setup
	$(PIP) -e '.[all,dev,bench]'
	$(BIN)/python bench/embed.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rag.py

clean:
	rm -rf $(VENV) .heron
