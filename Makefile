# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest browser bench soak clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

# Two stamps, one venv: `make run` needs the runtime dependencies only; `make test` adds the
# development tools. Both compile the packages' bytecode once, at install: with
# PYTHONDONTWRITEBYTECODE set (as on some CI machines) every process the tests start would
# otherwise compile FastAPI and pydantic again (seconds each, tens of seconds when loaded).
# The runtime sync is --inexact so that it never removes tools a test
# run installed; the full sync runs when its own stamp is missing, so tools come back.
$(VENV)/.synced-run: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --no-dev --inexact --compile-bytecode --quiet
	touch $@

$(VENV)/.synced-dev: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-groups --compile-bytecode --quiet
	touch $@ $(VENV)/.synced-run

run: $(VENV)/.synced-run
	$(BIN)/python -m app serve

test: $(VENV)/.synced-dev lint typecheck pytest

lint: $(VENV)/.synced-dev
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

typecheck: $(VENV)/.synced-dev
	$(BIN)/mypy

pytest: $(VENV)/.synced-dev browser
	$(BIN)/pytest -q -p no:cacheprovider

# The browser tests drive Debian's chromium; install it where we can (root with apt-get).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and not installable here: browser tests are skipped"; fi; }

bench: $(VENV)/.synced-dev
	$(BIN)/python -m bench

soak: $(VENV)/.synced-dev
	$(BIN)/pytest -q -m soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
