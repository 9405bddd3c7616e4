"""params.yaml, loaded and validated once, and the paths the stages read and write.

Every key must be present in params.yaml (there are no hidden defaults in code), so the file DVC
tracks is the whole truth about a run. Errors name the key to fix: `train.learning_rate: ...`.
"""

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
)

from summarization.errors import UserError

PARAMS_FILE = Path("params.yaml")
SPLITS = ("train", "validation", "test")

RAW_DIR = Path("data/raw")  # one parquet file a split: id, document, summary
TOKENIZED_DIR = Path("data/tokenized")  # one parquet file a split (id, input_ids, labels) + tokenizer/
MODEL_DIR = Path("models/summarizer")  # the trained model and its tokenizer, safetensors
SHAREABLE_DIR = Path("models/shareable")  # the trained model with its settings and model card, for colleagues
RESUME_DIR = Path("models/checkpoints")  # the trainer's checkpoints, to resume an interrupted run
DVCLIVE_DIR = Path("dvclive")  # training curves and logged arguments
PREDICTIONS_FILE = Path("data/predictions.jsonl")
# each example's lead-1 baseline (its first sentence), its ROUGE and abstractiveness, and the reference's
LEAD1_FILE = Path("data/lead1.jsonl")
SUMMARY_LENGTHS_FILE = Path("data/summary_lengths.csv")  # word-count histogram of predictions and references
COVERAGE_FILE = Path("data/coverage.csv")  # extractive-coverage histogram of the predictions
REFERENCE_COVERAGE_FILE = Path("data/reference_coverage.csv")  # the same of the references
METRICS_DIR = Path("metrics")  # the numbers compared across runs (dvc metrics diff)
# Descriptive records, git-tracked beside the metrics but not compared as metrics
TOKEN_LENGTHS_FILE = Path("reports/token_lengths.json")  # length percentiles of each split
ENVIRONMENT_FILE = Path("reports/environment.json")  # where the model was trained
EVALUATIONS_FILE = Path("reports/evaluations.md")  # the recipe's table: losses and ROUGE at each evaluation
ABSTRACTIVENESS_FILE = Path("reports/abstractiveness.json")  # every abstractiveness mean of the predictions
# the same of the evaluated split's references and lead-1, from the data alone (the baseline stage)
BASELINE_ABSTRACTIVENESS_FILE = Path("reports/baseline_abstractiveness.json")


class Section(BaseModel):
    # YAML reads .inf and .nan as floats; no param here means anything when infinite or NaN
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EmbeddedCorpus(Section):
    seed: int
    train_size: PositiveInt
    validation_size: PositiveInt
    test_size: PositiveInt


class HubDataset(Section):
    path: str = Field(min_length=1)
    revision: str = Field(min_length=1)


class SplitFiles(Section):
    train: str | None
    validation: str | None
    test: str | None


class Columns(Section):
    document: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    id: str = Field(min_length=1)


class Fetch(Section):
    source: Literal["embedded", "hub", "files"]
    embedded: EmbeddedCorpus
    hub: HubDataset
    files: SplitFiles
    columns: Columns
    max_train_samples: PositiveInt | None
    max_validation_samples: PositiveInt | None
    max_test_samples: PositiveInt | None

    def max_samples(self, split: str) -> int | None:
        return getattr(self, f"max_{split}_samples")


class EmbeddedModel(Section):
    vocab_size: int = Field(ge=16)
    d_model: PositiveInt
    d_ff: PositiveInt
    num_layers: PositiveInt
    num_heads: PositiveInt
    dropout_rate: float = Field(ge=0, lt=1)


class Model(Section):
    checkpoint: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    from_scratch: bool
    embedded: EmbeddedModel


class Preprocess(Section):
    prefix: str
    max_source_length: PositiveInt
    max_target_length: PositiveInt


class Lora(Section):
    r: PositiveInt | None
    alpha: PositiveFloat
    dropout: float = Field(ge=0, lt=1)
    # a string is all-linear or a regular expression (peft)
    target_modules: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | str | None


# YAML 1.1, which PyYAML reads, takes an unquoted `no` for false, and `dvc exp run -S train.eval_strategy=no`
# writes it unquoted (DVC writes YAML 1.2): false is the documented `no`.
EvalStrategy = Annotated[
    Literal["no", "epoch", "steps"], BeforeValidator(lambda value: "no" if value is False else value)
]


class Train(Section):
    learning_rate: PositiveFloat
    per_device_train_batch_size: PositiveInt
    max_tokens_per_batch: PositiveInt | None
    length_buckets: PositiveInt | None
    gradient_accumulation_steps: PositiveInt
    num_train_epochs: PositiveFloat
    weight_decay: NonNegativeFloat
    warmup_steps: NonNegativeFloat
    lr_scheduler_type: str
    optim: str
    group_by_length: bool
    precision: Literal["auto", "fp16", "bf16", "fp32"]
    compile: Literal["none", "default", "reduce-overhead"]
    logging_steps: PositiveInt
    save_steps: PositiveInt
    seed: int = Field(ge=0, le=2**32 - 1)  # numpy's seeds (set_seed) are 32-bit
    eval_strategy: EvalStrategy
    eval_steps: PositiveInt | None
    eval_max_samples: PositiveInt | None
    per_device_eval_batch_size: PositiveInt
    generation_max_length: PositiveInt
    generation_num_beams: PositiveInt
    load_best_model_at_end: bool
    metric_for_best_model: Literal["loss", "rouge1", "rouge2", "rougeL", "rougeLsum"]
    early_stopping_patience: PositiveInt | None
    gradient_checkpointing: bool
    fsdp: bool
    lora: Lora
    attention: Literal["eager", "sdpa", "flex"]
    devices: Literal["auto"] | PositiveInt


class Evaluate(Section):
    split: Literal["train", "validation", "test"]
    generation_max_length: PositiveInt
    num_beams: PositiveInt
    per_device_eval_batch_size: PositiveInt
    # A 95% interval's ends are the 2.5th and 97.5th percentiles of the resampled means: under 100 resamples
    # they rest on one or two of them (at 1, the interval is a point); 1000 or more is the usual advice.
    bootstrap_samples: int = Field(ge=100)


class Params(Section):
    fetch: Fetch
    model: Model
    preprocess: Preprocess
    train: Train
    evaluate: Evaluate


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; any problem is a UserError naming the key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found in {Path.cwd()}: run the stages from the project root") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise UserError(f"{path} is not valid YAML{line}: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a mapping of sections (fetch, model, preprocess, train, evaluate)")
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"{path}: {describe(error.errors())}") from None
    train = params.train
    check_trainer_choices(path, train)
    if train.warmup_steps >= 1 and not float(train.warmup_steps).is_integer():
        raise UserError(
            f"{path}: train.warmup_steps must be a fraction below 1 or a whole number of steps, "
            f"got {train.warmup_steps}"
        )
    if train.lr_scheduler_type == "reduce_lr_on_plateau" and train.eval_strategy == "no":
        raise UserError(
            f"{path}: train.lr_scheduler_type reduce_lr_on_plateau needs evaluations: "
            "set train.eval_strategy to epoch or steps"
        )
    if isinstance(train.lora.target_modules, str) and train.lora.target_modules != "all-linear":
        try:
            re.compile(train.lora.target_modules)
        except re.error as error:
            raise UserError(
                f"{path}: train.lora.target_modules: not all-linear nor a valid regular expression ({error})"
            ) from None
    if params.model.embedded.d_model % params.model.embedded.num_heads:
        raise UserError(
            f"{path}: model.embedded.d_model ({params.model.embedded.d_model}) must be a multiple of "
            f"model.embedded.num_heads ({params.model.embedded.num_heads})"
        )
    if train.eval_strategy == "steps" and train.eval_steps is None:
        raise UserError(f"{path}: train.eval_steps must be set when train.eval_strategy is steps")
    if train.load_best_model_at_end and train.eval_strategy == "no":
        raise UserError(
            f"{path}: train.load_best_model_at_end needs evaluations: set train.eval_strategy to epoch or steps"
        )
    if train.early_stopping_patience is not None and not train.load_best_model_at_end:
        raise UserError(f"{path}: train.early_stopping_patience needs train.load_best_model_at_end: true")
    if train.lora.r is not None and (params.model.checkpoint == "embedded" or params.model.from_scratch):
        raise UserError(
            f"{path}: train.lora.r: LoRA adapts pretrained weights, and model.checkpoint embedded or "
            "model.from_scratch gives fresh ones: use a local or Hub checkpoint, or train.lora.r: null"
        )
    if train.max_tokens_per_batch is not None and not train.group_by_length:
        raise UserError(
            f"{path}: train.max_tokens_per_batch makes batches of rows of similar length: "
            "set train.group_by_length: true"
        )
    if train.compile != "none" and (train.length_buckets is None or not train.group_by_length):
        raise UserError(
            f"{path}: train.compile needs batches of a few shapes, or it compiles again at every new one: "
            "set train.length_buckets (e.g. 8) and train.group_by_length: true"
        )
    if train.fsdp and train.eval_strategy != "no":  # processes generate apart; sharded layers run only all in step
        raise UserError(
            f"{path}: train.fsdp cannot evaluate during training: set train.eval_strategy: no "
            "(and train.load_best_model_at_end: false); the evaluate stage scores the model after"
        )
    if train.attention == "flex" and params.model.checkpoint == "embedded" and params.model.embedded.dropout_rate > 0:
        raise UserError(
            f"{path}: train.attention: flex has no attention dropout: set model.embedded.dropout_rate to 0, "
            "or train.attention to eager or sdpa"
        )
    if params.fetch.source == "files":
        for split in SPLITS:
            if getattr(params.fetch.files, split) is None:
                raise UserError(f"{path}: fetch.files.{split} must name a file when fetch.source is files")
    return params


# Schedulers that need lr_scheduler_kwargs (a minimum learning rate, decay steps), which params.yaml does not set
SCHEDULERS_NEEDING_ARGUMENTS = ("cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay")


def check_trainer_choices(path: Path, train: Train) -> None:
    """train.optim and train.lr_scheduler_type must be names transformers' Trainer takes (its own enums)."""
    # Imported here: transformers' trainer modules import torch (seconds), which the commands that only need
    # this module's paths (significance) should not pay.
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    schedulers = [name.value for name in SchedulerType if name.value not in SCHEDULERS_NEEDING_ARGUMENTS]
    for key, allowed in (("optim", [name.value for name in OptimizerNames]), ("lr_scheduler_type", schedulers)):
        if getattr(train, key) not in allowed:
            raise UserError(f"{path}: train.{key}: {getattr(train, key)!r} is not one of {', '.join(allowed)}")


def describe(errors: list[dict]) -> str:
    """The first pydantic error as `section.key: what is wrong (got value)`; a key of several types (auto or a
    number) gets what each type would take."""
    error, key = errors[0], dotted_key(errors[0])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: missing"
    wanted = " or ".join(f"{other['msg'][0].lower()}{other['msg'][1:]}" for other in errors if dotted_key(other) == key)
    return f"{key}: {wanted} (got {error['input']!r})"


def dotted_key(error: dict) -> str:
    """The path of keys, without the tags pydantic adds for the members of a union (list[str])."""
    return ".".join(str(part) for part in error["loc"] if str(part).isidentifier() or isinstance(part, int))
