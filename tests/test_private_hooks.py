"""Each private name of another package in summarization/private_hooks.py is still there, with the signature the
project's code was written against, and each override is still called by a real training run: one line naming the
hook and the installed version when not."""

import importlib
import inspect
from collections import Counter
from importlib.metadata import version

import datasets
import pyarrow as pa
import pytest
from transformers import PrinterCallback, T5ForConditionalGeneration

from summarization import modeling, resume, tokenizing, training
from summarization.batching import Shapes
from summarization.config import EmbeddedModel, load_params
from summarization.private_hooks import HOOKS, Hook


def resolve(name: str):
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:end]))
            break
        except ImportError:
            continue
    for part in parts[end:]:
        found = inspect.getattr_static(found, part) if isinstance(found, type) else getattr(found, part)
    return found


def installed(hook: Hook) -> str:
    package = hook.name.split(".")[0]
    return f"{package} {version(package)}"


@pytest.mark.parametrize("hook", HOOKS, ids=[hook.name for hook in HOOKS])
def test_each_hook_is_there_with_its_signature(hook):
    try:
        found = resolve(hook.name)
    except AttributeError:
        pytest.fail(f"private hook {hook.name} is gone in {installed(hook)} ({hook.where} relies on it)", False)
    if hook.parameters is not None:
        parameters = tuple(inspect.signature(found).parameters)
        assert parameters == hook.parameters, (
            f"private hook {hook.name} takes {parameters} in {installed(hook)}, not {hook.parameters} "
            f"({hook.where} relies on it)"
        )


OVERRIDES = [hook for hook in HOOKS if hook.use == "override"]


class Watched(training.SummarizationTrainer):
    """The train stage's Trainer, counting the calls Trainer makes to each overridden hook."""

    calls = Counter()

    def _save_checkpoint(self, model, trial) -> None:
        self.calls["transformers.Trainer._save_checkpoint"] += 1
        super()._save_checkpoint(model, trial)

    def _issue_warnings_after_load(self, load_result) -> None:
        self.calls["transformers.Trainer._issue_warnings_after_load"] += 1
        super()._issue_warnings_after_load(load_result)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Counter, list]:
    """A real training run that checkpoints, evaluates and loads its best checkpoint: the Trainer calls it made to
    each override, and the checkpoints it left."""
    texts = pa.RecordBatch.from_pydict({"document": ["the cat sat on the mat today"], "summary": ["the cat sat"]})
    tokenizer = tokenizing.build_embedded_tokenizer([texts], "", 16)
    sizes = EmbeddedModel(vocab_size=16, d_model=8, d_ff=16, num_layers=1, num_heads=1, dropout_rate=0.0)
    model = T5ForConditionalGeneration(modeling.embedded_config(sizes, tokenizer))
    ids = tokenizer(["the cat sat on the mat"] * 8)["input_ids"]
    dataset = datasets.Dataset.from_dict({"input_ids": ids, "labels": tokenizer(["the cat sat"] * 8)["input_ids"]})
    cfg = load_params().train.model_copy(
        update={
            "per_device_train_batch_size": 2,
            "num_train_epochs": 1,
            "eval_strategy": "steps",
            "eval_steps": 2,
            "save_steps": 2,
            "metric_for_best_model": "loss",
            "generation_max_length": 4,
            "per_device_eval_batch_size": 8,
        }
    )
    output = tmp_path_factory.mktemp("hooks")
    trainer = Watched(
        model=model,
        args=training.arguments(cfg, "fp32", output, disable_tqdm=True),
        train_dataset=dataset,
        eval_dataset=dataset,
        processing_class=tokenizer,
        shapes=Shapes(None, None, None),
        references=["the cat sat"] * 8,
        save_steps=cfg.save_steps,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return Watched.calls, sorted(output.glob("checkpoint-*"))


@pytest.mark.parametrize("hook", OVERRIDES, ids=[hook.name for hook in OVERRIDES])
def test_each_override_is_called(run, hook):
    calls, _ = run
    assert calls[hook.name] > 0, f"private hook {hook.name} is no longer called in {installed(hook)}: {hook.where}"


def test_checkpoints_carry_the_record_of_their_files(run):
    """What the _save_checkpoint override is for: each checkpoint ends with the record of its files."""
    _, checkpoints = run
    assert checkpoints and all(resume.damage(checkpoint) is None for checkpoint in checkpoints)
    assert all((checkpoint / resume.FILES_RECORD).is_file() for checkpoint in checkpoints)
