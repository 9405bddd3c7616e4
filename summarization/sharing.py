"""The shareable model (models/shareable/): the trained weights and tokenizer with what a colleague
needs to use them without this project, so that

    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForSeq2SeqLM.from_pretrained(path)
    model.generate(**tokenizer(prefix + document, truncation=True, return_tensors="pt"))

summarizes as the evaluate stage did: its generation settings in generation_config.json, the prefix
where transformers' T5 checkpoints keep it, the truncation length as the tokenizer's model_max_length,
and a model card. dvc.yaml registers it as the artifact NAME."""

import json
import shutil
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer, GenerationConfig, PretrainedConfig

from summarization import model_card, modeling, tokenizing
from summarization.config import (
    ABSTRACTIVENESS_FILE,
    BASELINE_ABSTRACTIVENESS_FILE,
    ENVIRONMENT_FILE,
    METRICS_DIR,
    TOKEN_LENGTHS_FILE,
    Params,
)
from summarization.errors import UserError, existing, reading
from summarization.outputs import atomic_dir

NAME = "summarizer"  # its name in dvc.yaml's artifacts: `dvc artifacts get <repository> summarizer`
TASK = "summarization"  # the key in config.task_specific_params, which transformers 5 keeps as a plain extra field
RECORDS = {
    "data": METRICS_DIR / "data.json",
    "lengths": TOKEN_LENGTHS_FILE,
    "train": METRICS_DIR / "train.json",
    "rouge": METRICS_DIR / "rouge.json",
    "lead1": METRICS_DIR / "lead1.json",
    "abstractiveness": ABSTRACTIVENESS_FILE,
    "baseline_abstractiveness": BASELINE_ABSTRACTIVENESS_FILE,
    "environment": ENVIRONMENT_FILE,
}  # what the model card reports
# What export copies from the trained model: its weights (whole or in shards), config, generation settings and
# tokenizer files. Anything else (a colleague's Python file) stays behind; the card is export's own.
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*-of-*.safetensors",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "merges.txt",
    *modeling.TOKENIZER_FILES,
)


@dataclass(frozen=True)
class TaskSettings:
    """What the model reads before each document, and how many documents evaluate summarized at once."""

    prefix: str
    batch_size: int


def export(params: Params, model_dir: Path, out: Path) -> None:
    """Write the shareable model: model_dir's files with evaluate's settings and the model card, in one rename."""
    modeling.require_trained(model_dir, "run the train stage (dvc repro)")
    records = {name: read_record(path) for name, path in RECORDS.items()}
    with modeling.loading_trained(model_dir):
        # A LoRA adapter is shared merged into its base: a model that needs nothing else
        merged = modeling.merged_adapter(model_dir) if modeling.is_adapter(model_dir) else None
        config = merged.config if merged else tokenizing.pretrained(AutoConfig, model_dir)
        generation = merged.generation_config if merged else tokenizing.pretrained(GenerationConfig, model_dir)  # ids
        max_length = params.preprocess.max_source_length
        tokenizer = tokenizing.pretrained(AutoTokenizer, model_dir, model_max_length=max_length)
    # The summarization entry is replaced, not merged: t5-small's asks for a beam search evaluate did not run.
    settings = TaskSettings(params.preprocess.prefix, params.evaluate.per_device_eval_batch_size)
    config.task_specific_params = task_specific_params(config) | {TASK: vars(settings)}
    generation.update(max_length=params.evaluate.generation_max_length, num_beams=params.evaluate.num_beams)
    # Code a folder named (auto_map), which loading ignored, is not named in what others load: transformers would
    # ask them whether to run it
    vars(config).pop("auto_map", None)
    tokenizer.init_kwargs.pop("auto_map", None)
    with atomic_dir(out) as staging:
        if merged:
            merged.save_pretrained(staging)
        else:
            for path in model_files(model_dir):  # byte for byte: DVC's cache stores the weights once for both outputs
                shutil.copyfile(path, staging / path.name)
        config.save_pretrained(staging)
        generation.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(model_card.render(NAME, params, config.model_type, records))


def model_files(model_dir: Path) -> list[Path]:
    """The files of model_dir that a model is read from (MODEL_FILES): nothing else a folder holds is shared."""
    return sorted(path for path in model_dir.iterdir() if any(fnmatch(path.name, name) for name in MODEL_FILES))


def read_record(path: Path) -> dict:
    with reading(existing(path)):
        return json.loads(path.read_text())


def task_settings(config: PretrainedConfig, directory: Path) -> TaskSettings:
    """The prefix and batch size that the export stage stored in a model's config."""
    stored = task_specific_params(config).get(TASK, {})
    try:
        return TaskSettings(**stored)
    except TypeError:  # a model not exported by this pipeline: t5-small's entry has a prefix but no batch size
        raise UserError(
            f"{directory} carries no summarization settings (config.json: task_specific_params."
            f"{TASK} with prefix and batch_size): use the export stage's {NAME} (models/shareable)"
        ) from None


def task_specific_params(config: PretrainedConfig) -> dict:
    """The per-task settings of a checkpoint (T5's keep their prefixes there); most models have none."""
    return getattr(config, "task_specific_params", None) or {}
