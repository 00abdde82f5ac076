# Set-up and entry points. Every target installs what it needs into .venv first (from nothing).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup run test bench
setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)  ## the main job: every table at the embedded smoke scale, then the report
	$(PY) run_all.py $(ARGS)

test: $(STAMP)  ## the test suite (under 10 minutes on 2 CPU cores)
	$(PY) -m pytest -q $(ARGS)

bench: $(STAMP)  ## augmentation cost against timm and torchvision
	$(PY) bench/augment_cost.py $(ARGS)
