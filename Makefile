# Two commands set everything up: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Modules compiled with mypyc (setup.py): an edit to one of them means a rebuild.
COMPILED := $(shell grep -o 'bot/core/[a-z_]*\.py' pyproject.toml)

.PHONY: install test lint demo bench schema clean lock

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml setup.py $(COMPILED) | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collects no tests; treat that as a failure here so an
# empty suite can never look green.
test: lint
	$(VENV)/bin/pytest

demo: $(STAMP)
	$(VENV)/bin/jitbot demo

bench: $(STAMP)
	$(PY) -m bench

schema: $(STAMP)
	$(VENV)/bin/jitbot schema > runbooks/runbook.schema.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info bot/core/*.so

# The Docker image installs exactly these pinned runtime dependencies.
lock: $(PY)
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[postgres]'
	.lock-venv/bin/pip freeze --exclude jitbot | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv
