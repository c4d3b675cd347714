# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench soak clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-groups --quiet
	touch $@

run: $(VENV)/.synced
	$(BIN)/python -m app serve

test: $(VENV)/.synced lint typecheck pytest

lint: $(VENV)/.synced
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

typecheck: $(VENV)/.synced
	$(BIN)/mypy

pytest: $(VENV)/.synced
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(VENV)/.synced
	$(BIN)/python -m bench

soak: $(VENV)/.synced
	$(BIN)/pytest -q -m soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
