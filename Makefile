# The README's two commands: `make run` (the whole system with demo data) and `make test`.
# Both install everything the project needs, pinned: npm packages from package-lock.json
# (solc-js, OpenZeppelin, anvil, forge) and Python packages from requirements.lock.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
STAMP := build/.stamps

export PATH := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin:$(CURDIR)/node_modules/@foundry-rs/forge-linux-amd64/bin:$(PATH)

.PHONY: setup chromium run test test-contracts artifacts test-python lint bench clean

setup: $(STAMP)/npm $(STAMP)/python chromium

# Headless Chromium (Debian's package) for the pages' browser tests, and CJK + emoji fonts so the
# screenshots show Chinese text: installed when missing, as root (or with passwordless sudo);
# otherwise a warning (`make run` does not need it, the browser tests fail saying how to get it).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "warning: chromium missing (apt-get install -y --no-install-recommends chromium fonts-wqy-zenhei fonts-noto-color-emoji)"; exit 0; fi; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-wqy-zenhei fonts-noto-color-emoji; \
	fi

$(STAMP)/npm: package.json package-lock.json
	npm ci --no-audit --no-fund
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/python: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@mkdir -p $(STAMP) && touch $@

run: setup
	$(VENV)/bin/tuanchain run

# Two steps. First, side by side on two jobs: forge's tests (they need only the npm packages), the
# Python packages' install, the compile of the artifacts the Python tests load, and the Slither
# gate (its own venv). forge's solc-js compile is one single-threaded process for about a minute,
# as are pip, the artifacts' compile and Slither's: the other core does those meanwhile. Each
# target's output is printed whole when it ends (--output-sync); a failing one fails `make test`.
# Then the Python tests on both cores.
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target test-contracts artifacts lint
	$(MAKE) --no-print-directory test-python

test-contracts: $(STAMP)/npm
	$(FORGE) test

artifacts: $(STAMP)/npm $(STAMP)/python
	$(PY) scripts/compile_artifacts.py

# Two workers, one test file per worker at a time (a file's module fixtures are built once), the
# same random order seed on both; files handed out in collection order, where tests/conftest.py
# puts the longest first (LONG_FILES), not xdist's (most tests first, which left the long
# lifecycle files for last). Bytecode is written (this environment may set
# PYTHONDONTWRITEBYTECODE): every tuanchain subprocess the tests start would otherwise recompile
# the project, and pytest's assertion rewriting would be redone by each worker.
PYTEST_WORKERS ?= 2
test-python: setup
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)/npm
	bash scripts/lint_slither.sh

bench: setup
	$(PY) scripts/bench_gas.py
	$(PY) scripts/bench_traceability.py

clean:
	rm -rf build $(VENV) .venv-slither node_modules
