# make demo: set up (first time), train and record the reference DQN headless (better-rl demo), print where the
# run and its HTML export are.   make lab: open the quickstart in JupyterLab.   make test: set up and run every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8888
JS_SOURCES := $(shell find js/src -type f 2>/dev/null) js/build.mjs package-lock.json

.PHONY: demo lab test setup js pytest vitest bench lint

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml package.json package-lock.json constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

# Rebuild the bundle whenever a front-end source is newer than it.
js: better_rl_widget/static/widget.js
better_rl_widget/static/widget.js: $(JS_SOURCES) | setup
	npm run build

demo: setup js
	$(VENV)/bin/better-rl demo

lab: setup js
	$(VENV)/bin/better-rl lab --port=$(PORT)

vitest: setup js
	npm test

pytest: setup js
	$(PY) -m pytest

# Python lint, types and the layer contract; their settings are in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy better_rl_widget
	$(VENV)/bin/lint-imports

test: setup js lint
	npm run typecheck
	npm run lint
	npm test
	$(PY) -m pytest

bench: setup js
	$(PY) benchmarks/transport.py
