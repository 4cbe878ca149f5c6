# dhs: two commands on a fresh machine, `make demo` and `make test`; each sets up .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.dev-installed
BENCH_INSTALLED := $(VENV)/.bench-installed

export DAGSTER_HOME := $(CURDIR)/dagster_home
export DHS_DATA_ROOT ?= $(CURDIR)/data

.PHONY: demo demo-http test test-system lint ui ui-check browser bench validate clean

# the package and what the pipeline needs (make demo, make ui); the test tools on top of it for make test
$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dhs needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(INSTALLED)

$(DEV_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_INSTALLED)

demo: $(INSTALLED)
	$(BIN)/dhs demo

# the same pipeline, its survey served over HTTP on 127.0.0.1 and fetched into data/survey_cache
demo-http: $(INSTALLED)
	$(BIN)/dhs demo --http

# every test but the system tests (about 3.5 minutes on 2 cores); then the system tests, a worker per file (they mostly
# wait on daemons and subprocesses): dagster dev with a GraphQL
# backfill and the UI in a browser, the whole demo as a user runs it (about 5 minutes). CI runs both.
test: $(DEV_INSTALLED)
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not system"

test-system: $(DEV_INSTALLED) browser
	$(BIN)/python -m pytest -n 3 --dist loadfile -m system

# ruff: the formatter (line length 110) and the linter (pyproject.toml says which rules and why)
lint: $(DEV_INSTALLED)
	$(BIN)/ruff format --check dhs_core dhs_assets tests bench
	$(BIN)/ruff check dhs_core dhs_assets tests bench

validate: $(INSTALLED)
	$(BIN)/dagster definitions validate -w workspace.yaml

ui: $(INSTALLED)
	@echo "Dagster UI: http://127.0.0.1:3000 (instance: $(DAGSTER_HOME), data: $(DHS_DATA_ROOT))"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# Debian's Chromium for the browser check (root and Debian's registry needed; nothing when it is there)
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# dagster dev on a temporary instance: a GraphQL backfill, then headless Chromium on the asset graph;
# the screenshots land in docs/img (asset_graph.png; report.png, the demo's training-set report)
ui-check: $(DEV_INSTALLED) browser
	DHS_REQUIRE_BROWSER=1 DHS_UI_SCREENSHOT=$(CURDIR)/docs/img/asset_graph.png DHS_REPORT_SCREENSHOT=$(CURDIR)/docs/img/report.png \
		$(BIN)/python -m pytest -q -s tests/e2e tests/assets/test_demo.py::test_demo_command_runs_end_to_end

# PySpark (the manifest benchmark's peer; needs Java 17+) is installed for the benchmarks only
$(BENCH_INSTALLED): $(DEV_INSTALLED)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_INSTALLED)

bench: $(BENCH_INSTALLED) browser
	cd bench && ../$(BIN)/python hashing.py
	cd bench && ../$(BIN)/python mock_sky.py
	cd bench && ../$(BIN)/python sweep_scan.py
	cd bench && ../$(BIN)/python regions.py
	cd bench && ../$(BIN)/python render.py
	cd bench && ../$(BIN)/python manifest.py
	cd bench && ../$(BIN)/python bank.py
	cd bench && ../$(BIN)/python stamps.py
	cd bench && ../$(BIN)/python fetch.py
	cd bench && ../$(BIN)/python ui.py
	test -d $(DHS_DATA_ROOT)/injected_stamps || $(BIN)/dhs demo
	cd bench && ../$(BIN)/python false_alarms.py --data-root $(DHS_DATA_ROOT)

clean:
	rm -rf $(VENV) data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
