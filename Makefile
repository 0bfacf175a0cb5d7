# The README's two commands: `make demo` and `make test`. Both create and reuse
# .venv and install the pinned dependencies (requirements/lock.txt) first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WHEELS ?= $(HOME)/.cache/heron/wheels
LLAMA_VERSION := 0.3.36
STAMP := $(VENV)/.heron-installed
PIP := $(BIN)/pip install --find-links $(WHEELS) -c requirements/lock.txt

.PHONY: setup demo test lint typecheck bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt requirements/bundled.txt scripts/llama_wheel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/llama_wheel.sh $(LLAMA_VERSION) $(BIN)/pip
	$(PIP) -e '.[all,dev]'
	$(BIN)/pip install --no-deps -r requirements/bundled.txt
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
	$(BIN)/python bench/embed.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rag.py

clean:
	rm -rf $(VENV) .heron
