# Two commands do everything on a fresh machine, in either order: `make demo` and `make test`.
# `make demo` installs the runtime dependencies only (a small venv, a quick first demo);
# `make test` (and lint, bench) add the dev extras to the same venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# One stamp per layer: the runtime one is the dev one's prerequisite, so whichever command
# comes first, the other finds what it needs and installs only what is missing.
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: install install-runtime browser test demo bench lint typecheck clean

# The report's browser tests drive Debian's chromium (Playwright never downloads its own).
CHROMIUM ?= /usr/bin/chromium

install: $(DEV)

install-runtime: $(RUNTIME)

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV)

browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; }

# Tests that lean on the real clock (marked `timing`) run alone after the rest, which runs
# on two processes; each group's own line says how many passed.
test: install browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not timing"
	$(BIN)/python -m pytest -q -m timing

demo: install-runtime
	$(BIN)/python -m harvester.demo

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check harvester tests bench
	$(BIN)/ruff format --check harvester tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .pytest_cache
