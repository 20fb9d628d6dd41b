# The README's two set-up commands, `make run` and `make test`, and a few helpers.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCK_HASH := $(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
STAMP := $(VENV)/.built-$(LOCK_HASH)
DEBIAN_PACKAGES := libegl1 libgl1 libegl-mesa0 libgles2 default-jre-headless
PRESET ?= smoke
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: run test test-all venv system-deps lab export readme clean-runs gpu-check gpu-wheels gpu-check-device

# The main job: every pipeline experiment that exists, each with its smoke preset, into its own runs/ folder.
run: $(STAMP)
	@set -e; for nb in nbs/experiments/*.ipynb; do \
	  name=$$(basename $$nb .ipynb); echo "== rk run $$name --preset $(PRESET)"; \
	  $(BIN)/rk run $$name --preset $(PRESET); \
	done

# Every test: the notebooks' own test cells (slow/gpu flagged cells skipped) and the cross-cutting suites.
test: $(STAMP)
	@# two notebooks run at once on two cores: one thread each, or torch oversubscribes the cores and crawls
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2
	$(BIN)/python -m pytest -q -m "not slow" tests

# The slow suites and notebook cells too (long learning checks; not run in CI).
test-all: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --flags slow
	$(BIN)/python -m pytest -q tests

venv: $(STAMP)

# Built when missing or when requirements.lock / pyproject.toml changed (the stamp carries their hash).
$(STAMP): requirements.lock pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-deps -r requirements.lock   # complete pins; see its header
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.built-*
	@touch $@

# Debian packages for headless MuJoCo rendering (EGL/Mesa) and Java (ScienceWorld), when root with apt.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ "$$missing" = default-jre-headless ] && command -v java >/dev/null; then missing=; fi; \
	  if [ -n "$$missing" ]; then echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi; \
	else echo "not root with apt: make sure $(DEBIAN_PACKAGES) (or equivalents) are installed"; fi

lab: $(STAMP)
	$(BIN)/jupyter lab nbs

# Notebooks -> package, notebooks cleaned of outputs, README regenerated from nbs/index.ipynb.
export: $(STAMP)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean --fname nbs
	@$(MAKE) --no-print-directory readme

readme: $(STAMP)
	$(BIN)/jupyter nbconvert --log-level WARN --to markdown nbs/index.ipynb --output-dir . --output README

clean-runs:
	rm -rf runs/2*

# On one CUDA GPU: each pipeline's default (GPU) preset for a few bf16 steps, into a new runs/<stamp>-gpu-check
# (results.json, table.md); `make gpu-check ARGS=--tiny` at the tiny sizes of its CPU test. See nbs/core/09_gpu_check.ipynb.
gpu-check: $(STAMP)
	$(BIN)/python -m research_kit.core.gpu_check $(ARGS)

# The wheels the lent GPU machine lacks (it has torch, transformers, accelerate, peft, h5py, matplotlib), into .whl/.
gpu-wheels: $(STAMP)
	tools/gpu_wheels.sh

# On the GPU machine, with .whl/ carried beside the working tree: its python3, those wheels in /tmp/site, results in $OUT/gpu.
gpu-check-device:
	python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$$PWD && python3 -m research_kit.core.gpu_check --out $${OUT:?set OUT to the results folder}/gpu
