# The README's two commands: `make demo` (run the main job) and `make test` (set up and pass the tests).
# Both create the virtual environment themselves; `make test` also installs the Debian servers the
# integration tests use (Prosody, Redis) when run as root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test venv servers lint typecheck unit

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "fingress needs Python >= 3.11 ($(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

servers:
	@bash tests/install-servers.sh

demo: venv
	$(BIN)/fingress demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

test: venv servers lint typecheck
	$(BIN)/pytest
