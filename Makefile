# The two commands of the quick start, each of which sets up .venv first:
#   make repro   run the pipeline (dvc repro) on the embedded default
#   make test    run the test suite
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# Every command here runs as if the venv were activated: dvc runs each stage's `python -m stages.<name>`
# through the shell, and that `python` must be the venv's, not whatever comes first on the user's PATH.
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

# The lock (docs/environment.md): requirements.lock pins every package the pipeline imports, for Linux and macOS,
# CPU or CUDA torch, and is a dependency of each stage; requirements-dev.lock adds the test tools at the same versions.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV := $(VENV)/bin/uv
# uv reads no pip configuration: it is handed pip's wheel folders, so torch's build stays the machine's choice (here
# the CPU wheel in /opt/wheels; elsewhere whatever PyPI serves for torch==2.13.0), and pip's certificate authorities.
# Read only when a recipe installs (`=`): pip takes half a second to say.
pip_config = $(shell python3 -m pip config list 2>/dev/null | sed -n "s/^[^.]*\.$(1)='\(.*\)'$$/\1/p" | tail -1)
uv_certificates = $(if $(call pip_config,cert),SSL_CERT_FILE=$(call pip_config,cert))
uv_install = $(uv_certificates) $(1)/bin/uv pip install --python $(1)/bin/python \
	$(foreach links,$(call pip_config,find-links),--find-links $(links))

.PHONY: setup lock upgrade-check repro test test-quick docs xsum-recipe xsum-recommended

setup: $(VENV)/.installed

# uv at the lock's version, then every package at the lock's version (constraints: only those the machine's torch
# build needs, so a CPU torch brings no CUDA libraries)
$(VENV)/.installed: pyproject.toml $(LOCK) $(DEV_LOCK)
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q "$$(grep -o '^uv==[^ ]*' $(DEV_LOCK))"
	$(call uv_install,$(VENV)) -q -e ".[test]" --constraints $(DEV_LOCK)
	touch $@

# Every platform's versions within pyproject.toml's ranges, from the package index alone (no wheel folder: its CPU
# torch would stand for every machine's); a locked version stays while the ranges allow it (UPGRADE=1: the newest).
# Run after changing a dependency in pyproject.toml.
UV_COMPILE = $(uv_certificates) $(UV) pip compile -q pyproject.toml --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock:
	test -x $(UV) || $(MAKE) setup
	$(UV_COMPILE) -o $(LOCK)
	$(UV_COMPILE) --extra test --constraints $(LOCK) -o $(DEV_LOCK)

# The upgrade path (docs/environment.md): the newest versions pyproject.toml allows, in a venv of their own; there,
# test-quick's tests (less those checking that a venv is the lock's) and the tiny pipeline; then the versions that
# differ from the lock, to record in docs/environment.md. RESOLUTION=lowest-direct tries the ranges' lower ends.
UPGRADE_VENV := .venv-upgrade
upgrade-check:
	rm -rf $(UPGRADE_VENV) && python3 -m venv $(UPGRADE_VENV)
	$(UPGRADE_VENV)/bin/python -m pip install -q "$$(grep -o '^uv==[^ ]*' $(DEV_LOCK))"
	$(call uv_install,$(UPGRADE_VENV)) -q --upgrade $(if $(RESOLUTION),--resolution $(RESOLUTION)) -e ".[test]"
	$(UPGRADE_VENV)/bin/python -m pytest -q -n auto -m "not slow and not lock"
	$(UPGRADE_VENV)/bin/python -m pytest -q tests/test_pipeline.py::test_make_repro_writes_every_output
	$(UPGRADE_VENV)/bin/python -m summarization.lockfile

repro: setup
	dvc repro

# Lint and format first (.pre-commit-config.yaml's ruff hooks, as a commit runs them), then one pytest worker a
# core (pytest-xdist); conftest.py shares the cores' threads out among them.
test: setup
	pre-commit run --all-files --show-diff-on-failure
	python -m pytest -n auto

# The tests not marked slow, while editing: no lint, no end-to-end pipeline
test-quick: setup
	python -m pytest -n auto -m "not slow"

# docs/parameters.md from summarization/config.py's field docstrings and params.yaml's defaults (a test checks it)
docs: setup
	python -m summarization.params_doc

# The published recipe: t5-small fine-tuned on XSum, as in Hugging Face's run_summarization.py.
XSUM_RECIPE := -S fetch.source=hub -S model.checkpoint=t5-small \
	-S train.learning_rate=2e-5 -S train.per_device_train_batch_size=16 -S train.num_train_epochs=1 \
	-S train.weight_decay=0.01 -S train.warmup_steps=0 -S train.optim=adamw_torch -S train.group_by_length=false \
	-S train.precision=fp16 -S evaluate.split=validation -S evaluate.generation_max_length=20 \
	-S evaluate.per_device_eval_batch_size=16

xsum-recipe: setup
	dvc exp run -n xsum-recipe $(XSUM_RECIPE)

# What we recommend instead: Adafactor at T5's usual rate scaled for ~4x the rows a step (docs/training.md, the fast
# path), the fast path (token-budget batches in 16 shapes, compiled with CUDA graphs, bf16 where the GPU has it),
# summaries up to 64 tokens, generated in batches of 512 (all 11,332 validation rows in 27.8 s on an H200).
xsum-recommended: setup
	dvc exp run -n xsum-recommended $(XSUM_RECIPE) -S train.optim=adafactor -S train.learning_rate=2e-3 -S train.precision=auto \
		-S train.group_by_length=true -S train.max_tokens_per_batch=32768 -S train.length_buckets=8 \
		-S train.compile=reduce-overhead -S evaluate.generation_max_length=64 -S evaluate.per_device_eval_batch_size=512
