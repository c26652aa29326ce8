# evalkit: `make demo` runs the built-in multilingual suite on the embedded model;
# `make test` runs ruff, mypy and the whole test suite. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama.cpp compiles from source once (about 9 min on 2 cores); pip caches the wheel afterwards.
# Skip what evalkit does not use (multimodal, examples, tools, tests, curl).
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install install-demo browser test lint typecheck pytest install-check demo bench bench-peers screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[local]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[local,test]'
	touch $@ $(VENV)/.demo-installed

install-demo: $(VENV)/.demo-installed
install: $(VENV)/.test-installed

# Headless Chromium for the report browser tests, and Noto fonts so screenshots show every script
# (Debian packages; needs root or sudo).
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q NotoSansCJK && \
	   fc-list 2>/dev/null | grep -q NotoColorEmoji; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-core fonts-noto-cjk \
	    fonts-noto-color-emoji >/dev/null; }

lint: install
	$(BIN)/ruff check evalkit tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install browser
	$(BIN)/pytest -q

# The README's install path: a plain `pip install .` (no extras) into a throw-away venv, then every
# built-in suite validated and run briefly against the test server (a minute or two; pip caches wheels).
install-check:
	$(PYTHON) tests/install_check.py

test: lint typecheck pytest install-check

# A fresh run directory each time (an edited quickstart.yaml cannot resume an old run);
# repeats are instant anyway because answers come from the response cache.
demo: install-demo
	rm -rf reports/demo
	$(BIN)/evalkit run suites/quickstart.yaml --out reports/demo --model local:smollm2
	@if [ -f reports/demo/report.html ]; then echo "demo report: $(CURDIR)/reports/demo/report.html"; \
	else echo "demo results: $(CURDIR)/reports/demo (summary.json, results.jsonl)"; fi

# Refresh the committed screenshots of both reports (the browser tests write them to a temporary folder otherwise).
screenshots: install browser
	EVALKIT_SCREENSHOTS_DIR=$(CURDIR)/reports/screenshots $(BIN)/pytest -q tests/test_report_browser.py

bench: install
	$(BIN)/python -m benchmarks.run

bench-peers: install
	$(BIN)/python -m benchmarks.peers

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
