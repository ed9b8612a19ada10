# The two everyday commands are `make serve` and `make test`; every target installs into .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench reliability install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

DEMO := ledger/demo/louisville-2017.jsonl

serve: $(STAMP)
	@mkdir -p var
	$(BIN)/ledger import --if-empty $(DEMO)
	$(BIN)/ledger keys local
	$(BIN)/ledger serve --port $${PORT:-8000}

CHROMIUM := /usr/bin/chromium

# The browser tests drive Debian's Chromium; install it when it is missing.
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: lint $(CHROMIUM)
	$(BIN)/pytest -q
	$(BIN)/python -m reliability --size small

reliability: $(STAMP)
	$(BIN)/python -m reliability --size full

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
