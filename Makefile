# The two commands of the quick start, each of which sets up .venv first:
#   make repro   run the pipeline (dvc repro) on the embedded default
#   make test    run the test suite
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# Every command here runs as if the venv were activated: dvc runs each stage's `python -m stages.<name>`
# through the shell, and that `python` must be the venv's, not whatever comes first on the user's PATH.
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
# The CPU wheel of torch; on a GPU machine install a CUDA build into $(VENV) first (README.md: the t5-small / XSum recipe).
TORCH := torch==2.13.0
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test test-quick docs xsum-recipe xsum-recommended

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip  # older pips backtrack for many minutes over boto's pins
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "$(TORCH)"
	$(PYTHON) -m pip install -q -e ".[test]"
	touch $@

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
