# Two commands do everything on a machine that has only python3, pip and make:
#   make report   set up .venv and build the curated database (and report) from data/raw
#   make test     set up .venv and run the test suite
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .uv/bin/uv
VENV := .venv
export DAGSTER_HOME := $(CURDIR)
export UV_PYTHON_DOWNLOADS := never
# Install packages with their bytecode: where PYTHONDONTWRITEBYTECODE is set, as on our CI
# machines, every build would otherwise compile Dagster and GX from source (~4 s).
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: setup report test soak lint dev clean bench coverage oldest-duckdb-client

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

report: setup
	$(VENV)/bin/armtrace build

test: setup oldest-duckdb-client
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

# The oldest DuckDB client the curated database promises to open (README, "The curated
# database"), in an environment of its own: tests/test_duckdb_clients.py opens a build with
# it. Needs PyPI the first time; when the environment cannot be made, that test is skipped
# and says why.
DUCKDB_OLDEST_CLIENT := 1.4.0
OLDEST_CLIENT_VENV := .venv-duckdb-lts
oldest-duckdb-client: $(UV)
	@$(UV) venv --quiet --allow-existing --python $(PYTHON) $(OLDEST_CLIENT_VENV) && \
	VIRTUAL_ENV=$(CURDIR)/$(OLDEST_CLIENT_VENV) $(UV) pip install --quiet \
	  duckdb==$(DUCKDB_OLDEST_CLIENT) || \
	echo "could not make $(OLDEST_CLIENT_VENV) with DuckDB $(DUCKDB_OLDEST_CLIENT):" \
	  "its test will be skipped"

soak: setup
	$(VENV)/bin/pytest -m soak -s -n 0 tests/test_soak.py

# Build 100k, 1M and 10M sample rows and time them against the floor (docs/performance.md).
# Generated data goes to /tmp/armtrace-bench; SCALES=100000,1000000 for a shorter run.
SCALES ?= 100000,1000000,10000000
bench: setup
	$(VENV)/bin/python -m benchmarks.run --scales $(SCALES)

# Coverage of the share intervals by simulation (docs/figures.md, "Coverage"): about six
# minutes of processor time; rewrites benchmarks/coverage.json and the tables in the docs.
coverage: setup
	$(VENV)/bin/python -m benchmarks.coverage

lint: setup
	$(VENV)/bin/ruff check .

dev: setup
	$(VENV)/bin/dg dev

clean:
	rm -rf data/curated/armtrace.duckdb data/curated/.work reports/* .dagster
