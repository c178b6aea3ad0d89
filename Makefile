# Two commands on a fresh machine: `make run` (the benchmark) and `make test`.
# Both create .venv and install the project on first use; the stamp file makes the
# second call install nothing unless pyproject.toml or constraints.txt changed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVICE ?= auto
PRESET ?= quick

.PHONY: install fetch run test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $(STAMP)

install: $(STAMP)

fetch: install
	$(BIN)/gan-bench fetch

run: fetch
	$(BIN)/gan-bench run --variants all --preset $(PRESET) --device $(DEVICE)

test: fetch
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
