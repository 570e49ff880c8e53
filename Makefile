# Two commands set everything up on a fresh machine:
#   make demo   installs AutoStack into .venv and runs the demo on embedded defaults
#   make test   installs the test tools too, then runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The container image's /opt/autostack, built the way the Dockerfile builds it, with the
# system Python, so the tests can run the image's command as its non-root user.
IMAGE_PYTHON ?= /usr/bin/python3
IMAGE_VENV   := .venv-image
IMAGE_STAMP  := $(IMAGE_VENV)/.installed

.PHONY: demo test lint typecheck pytest install install-dev lock bench clean golden reliability

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements/lock.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)
install-dev: $(STAMP) $(IMAGE_STAMP)

$(IMAGE_STAMP): requirements/lock.txt pyproject.toml
	$(IMAGE_PYTHON) -m venv $(IMAGE_VENV)
	$(IMAGE_VENV)/bin/pip install --quiet --upgrade pip
	$(IMAGE_VENV)/bin/pip install --quiet --constraint requirements/lock.txt --editable .
	touch $@

demo: install
	$(BIN)/autostack demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint typecheck pytest

golden: install-dev
	$(BIN)/pytest tests/generators -k golden --update-golden

# The whole reliability suite (make test runs a short part of it); writes docs/reliability.md.
RELIABILITY_ROWS := .reliability.jsonl
reliability: install-dev
	rm -f $(RELIABILITY_ROWS)
	AUTOSTACK_RELIABILITY_REPORT=$(CURDIR)/$(RELIABILITY_ROWS) \
	  $(BIN)/pytest -n 2 -m "reliability or not reliability" tests/reliability; \
	  status=$$?; $(BIN)/python -m tests.reliability.report $(RELIABILITY_ROWS) docs/reliability.md; \
	  exit $$status

# The benchmarks print their figures; see bench/README.md. Run them on a quiet machine.
bench: install
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/github_calls.py
	$(BIN)/python bench/following.py

# Re-pin every dependency after editing pyproject.toml.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/lock.txt

clean:
	rm -rf $(VENV) $(IMAGE_VENV) $(RELIABILITY_ROWS) tests/tools/node_modules .pytest_cache .mypy_cache .ruff_cache
