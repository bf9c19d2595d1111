# pgsalt: `make demo` brings up the test bed and deploys the demo cluster; `make test` tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TB := tests/testbed/tb
PYTEST := $(PY) -m pytest

.PHONY: venv demo test unit e2e lint bench chaos down clean

# Salt's timelib has no wheel: building the venv needs a compiler and Python's headers.
$(PY):
	@command -v gcc >/dev/null && python3 -c 'import ensurepip, sysconfig, os, sys; \
	  sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] || { echo "run as root, or install gcc python3-dev python3-venv"; exit 1; }; \
	    apt-get update -qq && apt-get install -y -qq gcc python3-dev python3-venv >/dev/null; }
	python3 -m venv $(VENV)

# The pins live in pyproject.toml; the repo is a formula, not a package to install.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))' > $(VENV)/requirements.txt
	$(PY) -m pip install -q -r $(VENV)/requirements.txt
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(TB) up --nodes 4
	$(TB) salt-run saltutil.sync_all
	$(TB) salt-run state.orchestrate orch.deploy pillar='{"cluster": "demo"}'
	@$(PY) tests/testbed/demo_info.py

test: venv lint
	$(PYTEST) -m unit
	$(PYTEST) -m e2e -x --durations=25

unit: venv
	$(PYTEST) -m unit

e2e: venv
	$(PYTEST) -m e2e -x --durations=25

lint: venv
	$(VENV)/bin/ruff check _modules _states _runners _utils _beacons tests

bench: venv
	$(PY) tests/bench/run.py

# Needs the demo cluster deployed (make demo).
chaos: venv
	$(PY) tests/chaos/run.py

down:
	$(TB) down

clean:
	$(TB) down --purge
