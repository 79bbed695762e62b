# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install browser test demo bench lint typecheck clean

# The report's browser tests drive Debian's chromium (Playwright never downloads its own).
CHROMIUM ?= /usr/bin/chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; }

test: install browser
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/python -m harvester.demo

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check harvester tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .pytest_cache
