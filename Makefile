# Set-up and entry points. Every target installs what it needs into .venv first (from nothing).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup run test bench
setup: $(STAMP)

# mmcv (for MMDetection) has no binary wheel: it is compiled with its ops against the pinned torch, which must
# be installed first; its build imports pkg_resources (setuptools<81) and torch (--no-build-isolation). About
# 10 minutes on 2 cores the first time; pip caches the built wheel, so later set-ups take seconds.
TORCH := "torch==2.13.0,!=2.13.0+cpu" "torchvision==0.28.0"

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "setuptools<81" wheel ninja $(TORCH)
	MMCV_WITH_OPS=1 $(PY) -m pip install --quiet --no-build-isolation "mmcv==2.1.0"
	$(PY) -m pip install --quiet -e ".[test]"
	@command -v java >/dev/null || echo "mixbench: note: no Java runtime: captioning's metrics (pycocoevalcap) need one: apt install default-jre-headless (or conda install openjdk)"
	touch $(STAMP)

run: $(STAMP)  ## the main job: every table at the embedded smoke scale, then the report
	$(PY) run_all.py $(ARGS)

test: $(STAMP)  ## the test suite (under 10 minutes on 2 CPU cores), then the long end-to-end checks (minutes)
	$(PY) -m pytest -q $(ARGS)
	$(PY) -m pytest -q -m long -o faulthandler_timeout=900 $(ARGS)

bench: $(STAMP)  ## augmentation cost against timm and torchvision
	$(PY) bench/augment_cost.py $(ARGS)
