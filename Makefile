# Two commands set everything up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
REPLICAS ?= 3
CLUSTER_PORT ?= 8500

.PHONY: run test test-fast lint venv kernel bytecode dev-deps browser redis haproxy cluster train validate bench load soak load-cluster soak-cluster clean

$(VENV)/.installed: requirements.txt requirements-build.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-build.txt
	touch $@

# The compiled twins (core/feed/_goquant.pyx, core/costs/_walk.pyx, core/learned/_nets.pyx -> *.so in place),
# rebuilt when a source changes. Without a C compiler the app still runs (pure-Python path, same numbers); `make test` then fails
# tests/parity/test_kernel.py on purpose, so a missing build is never silent.
KERNEL_STAMP := core/.kernel-built
KERNEL_SRC := core/feed/_goquant.pyx core/feed/_okx.pyx core/feed/_parsing.pxd core/costs/_walk.pyx core/learned/_nets.pyx
$(KERNEL_STAMP): $(KERNEL_SRC) setup.py $(VENV)/.installed
	@if $(PY) setup.py --quiet build_ext --inplace; then touch $@; else \
	  echo "WARNING: the compiled modules were not built (needs gcc and the Python headers): running the pure-Python path"; fi

kernel: $(KERNEL_STAMP)

$(VENV)/.dev-installed: $(VENV)/.installed $(KERNEL_STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The project's bytecode, compiled ahead as pip does for installed packages: a process start then reads it instead
# of compiling about 60 modules from source (0.13 s of the first page view where PYTHONDONTWRITEBYTECODE is set, as on
# our CI machines; elsewhere Python caches it after the first start). compileall rewrites only what changed.
bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q app.py core pages

venv: $(VENV)/.installed $(KERNEL_STAMP) bytecode

dev-deps: $(VENV)/.dev-installed bytecode

# Debian's Chromium drives the browser tests (Playwright's own download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's redis-server for the bus tests (tests/loopback/test_bus.py starts its own on a free loopback port).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian's redis-server for the bus tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

# Debian's haproxy, the sticky proxy of `make cluster` and tests/loopback/test_cluster.py (it lives in /usr/sbin).
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
	  echo "installing Debian's haproxy for the cluster"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; }

run: venv
	@echo "Trade Cost Simulator: open http://localhost:$(PORT) (source: $${TCS_SOURCE:-replay})"
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

# Several processes on loopback: redis-server, one ingest, $(REPLICAS) app replicas and haproxy with cookie
# stickiness in front (core/cluster.py, deploy/haproxy.cfg.in); prints the URL, Ctrl-C stops everything.
cluster: venv redis haproxy
	$(PY) -m core.cluster --replicas $(REPLICAS) --port $(CLUSTER_PORT)

# The checks run first and stop the run when they fail: lint and format (ruff), types (mypy on core/), the
# layer rules (tests/architecture); then every test layer, the browser included.
lint: dev-deps
	$(PY) -m ruff check core pages tests benchmarks app.py setup.py
	$(PY) -m ruff format --check core pages tests benchmarks app.py setup.py
	$(PY) -m mypy
	$(PY) -m pytest -q -m architecture

test: lint browser redis haproxy
	$(PY) -m pytest -m "not architecture"

# The fast subset for local work: pure functions and compiled-twin parity (no servers, no browser).
test-fast: dev-deps
	$(PY) -m pytest -q -m "unit or parity or architecture"

# Rebuild the shipped models (models/*.keras, .npz, cards) and docs/MODELS.md from data/: trains on the 2024-08-08
# BTCUSDT pair and the 2023-04-04 BTCUSDT perpetual, reports on every other recording (about 2.5 min on a quiet
# 2-core machine, up to 16 under load; rows are most of it).
train: dev-deps
	$(PY) -m core.train --out models/

# Score the app's own estimates against the real taker orders of every bundled recording with trades
# and its simulated resting limit orders (about 1-2 min): docs/VALIDATION.md and docs/validation.json.
validate: venv
	$(PY) -m core.validate --json docs/validation.json --markdown docs/VALIDATION.md

bench: dev-deps browser
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis artifacts build core/*/_*.c core/*/_*.so $(KERNEL_STAMP)

# Reliability runs (bounded, loopback only): figures go to benchmarks/reliability.json; see docs/RELIABILITY.md.
# `load` (about 11 min): 10 sessions on one app process (3 Chromium tabs, 7 protocol sessions), then sessions per
# app process with protocol sessions (benchmarks/sessions.py), feed embedded and on a Redis-fed replica.
load: dev-deps browser redis
	$(PY) -m benchmarks.reliability load --seconds 60 --sessions 10

soak: dev-deps browser
	$(PY) -m benchmarks.reliability soak --minutes $${SOAK_MINUTES:-30}

# The cluster (core/cluster.py) under sessions through haproxy (benchmarks/cluster_load.py): by default
# BROWSERS (3) headless Chromium sessions and the rest Streamlit-protocol sessions (benchmarks/sessions.py,
# haproxy's cookie kept), on the Market and Simulator pages. Figures to benchmarks/cluster.json,
# docs/RELIABILITY.md and docs/PERFORMANCE.md. SESSIONS and DURATION (seconds for the load, minutes for the
# soak) shorten a run on a small machine.
SESSIONS ?=
DURATION ?=
BROWSERS ?=
load-cluster: dev-deps browser redis haproxy
	$(PY) -m benchmarks.cluster_load load --replicas 3 --sessions $(or $(SESSIONS),30) --duration $(or $(DURATION),60) \
		--client protocol --browsers $(or $(BROWSERS),3)

soak-cluster: dev-deps browser redis haproxy
	$(PY) -m benchmarks.cluster_load soak --sessions $(or $(SESSIONS),3) --duration $(or $(DURATION),30)
