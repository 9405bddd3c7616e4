"""params.yaml, loaded and validated once, and the paths the stages read and write.

Every key must be present in params.yaml (there are no hidden defaults in code), so the file DVC
tracks is the whole truth about a run. Errors name the key to fix: `train.learning_rate: ...`.
"""

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML, YAMLError

from summarization.errors import UserError

PARAMS_FILE = Path("params.yaml")
EMBEDDED = "embedded"  # model.checkpoint: the small T5 built from model.embedded, with preprocess's own tokenizer
SPLITS = ("train", "validation", "test")

FILES_DIR = Path("data/files")  # the local files fetch.files names go here: a dependency of fetch that DVC hashes
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
# every abstractiveness mean of the checkpoint's summaries before fine-tuning (the pretrained stage)
PRETRAINED_ABSTRACTIVENESS_FILE = Path("reports/pretrained_abstractiveness.json")
EXAMPLES_PAGE = Path("reports/examples.html")  # each example's texts, marks and measures, to read in a browser


class Section(BaseModel):
    # YAML reads .inf and .nan as floats; no param here means anything when infinite or NaN
    # Each field's docstring is its description, from which docs/parameters.md is generated (summarization.params_doc)
    # Strict: a value is taken as the type YAML 1.2 gave it, as `dvc params diff` shows it; text is not turned into
    # a number or a boolean (`'2e-5'`, `yes`), nor a boolean into a number
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True, strict=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """Where a number goes, true or false is named as such (strict pydantic would only say it is no number)."""
        if isinstance(value, bool) and takes_numbers(cls.model_fields[info.field_name].annotation):
            raise PydanticCustomError("bool_for_number", "Input should be a number, not true or false")
        return value


def takes_numbers(annotation: Any) -> bool:
    """Whether a field's type is or holds int or float (in a union, an Annotated)."""
    return annotation in (int, float) or any(takes_numbers(arg) for arg in get_args(annotation))


class EmbeddedCorpus(Section):
    seed: int
    """seed of the generated corpus"""
    train_size: PositiveInt
    """generated rows in train"""
    validation_size: PositiveInt
    """generated rows in validation"""
    test_size: PositiveInt
    """generated rows in test"""


class HubDataset(Section):
    path: str = Field(min_length=1)
    """dataset repository on the Hub (or a local dataset directory)"""
    revision: str = Field(min_length=1)
    """the Hub's Parquet export of XSum (datasets ≥ 4 no longer runs XSum's loading script); a commit id pins it for
    good"""


class SplitFiles(Section):
    train: str | None
    """file of the train split: `.jsonl`, `.json` (one object a line), `.csv` or `.parquet`"""
    validation: str | None
    """file of the validation split"""
    test: str | None
    """file of the test split"""


class Columns(Section):
    document: str = Field(min_length=1)
    """source column holding the document"""
    summary: str = Field(min_length=1)
    """source column holding the reference summary"""
    id: str = Field(min_length=1)
    """source column holding a unique id; when absent, ids are `<split>-<row number>`"""


class Fetch(Section):
    source: Literal["embedded", "hub", "files"]
    """`embedded` (generated corpus), `hub` (a Hugging Face dataset) or `files` (local files)"""
    embedded: EmbeddedCorpus
    """the generated news-style corpus (`fetch.source: embedded`), offline"""
    hub: HubDataset
    """a Hugging Face dataset (`fetch.source: hub`)"""
    files: SplitFiles
    """local files, one a split (`fetch.source: files`), kept in `data/files/`: fetch depends on that folder"""
    columns: Columns
    """which source columns hold the document, the summary and the id"""
    max_train_samples: PositiveInt | None
    """keep only the first N train rows (`null`: all)"""
    max_validation_samples: PositiveInt | None
    """same for validation"""
    max_test_samples: PositiveInt | None
    """same for test"""

    def max_samples(self, split: str) -> int | None:
        return getattr(self, f"max_{split}_samples")


class EmbeddedModel(Section):
    vocab_size: int = Field(ge=16)
    """most tokens of the embedded word-level tokenizer, which is trained on the train split"""
    d_model: PositiveInt
    """width of the embedded T5"""
    d_ff: PositiveInt
    """feed-forward width"""
    num_layers: PositiveInt
    """encoder layers, and as many decoder layers"""
    num_heads: PositiveInt
    """attention heads (must divide `d_model`)"""
    dropout_rate: float = Field(ge=0, lt=1)
    """dropout, attention's included (0: the generated corpus is large for this model, no need to regularise)"""


class Model(Section):
    checkpoint: str = Field(min_length=1)
    """`embedded`, a Hub id (`t5-small`) or a local directory (AutoTokenizer + AutoModelForSeq2SeqLM)"""
    revision: str = Field(min_length=1)
    """Hub commit of the checkpoint (t5-small's); set it when you change `model.checkpoint` to another Hub id"""
    from_scratch: bool
    """fresh weights from the checkpoint's config instead of its pretrained weights (the benchmarks' models)"""
    embedded: EmbeddedModel
    """the small T5 built from a config when `model.checkpoint` is `embedded`"""


class Preprocess(Section):
    prefix: str
    """text put before every document"""
    max_source_length: PositiveInt
    """document tokens kept"""
    max_target_length: PositiveInt
    """summary tokens kept"""


class Lora(Section):
    r: PositiveInt | None
    """rank of LoRA adapters (peft) trained instead of the whole model, e.g. `16`; `null`: full fine-tuning. Needs a
    pretrained `model.checkpoint`"""
    alpha: PositiveFloat
    """LoRA scale: the adapters' updates are multiplied by `alpha / r`"""
    dropout: float = Field(ge=0, lt=1)
    """dropout on the adapters' input"""
    # a string is all-linear or a regular expression (peft)
    target_modules: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | str | None
    """names of the layers given adapters (`[q, k, v, o]`), `all-linear` or a regular expression; `null`: peft's
    choice for the model type (T5: `q`, `v`; BART: `q_proj`, `v_proj`)"""


class Train(Section):
    learning_rate: PositiveFloat
    """peak learning rate"""
    per_device_train_batch_size: PositiveInt
    """rows a batch on each device (without a token budget)"""
    max_tokens_per_batch: PositiveInt | None
    """batches of up to this many padded source tokens instead of a fixed number of rows: rows of similar length
    together, many short rows or few long ones, so an epoch takes far fewer steps (docs/training.md#the-fast-path);
    needs `group_by_length`"""
    length_buckets: PositiveInt | None
    """pad sources to one of this many lengths (and targets to one of two), chosen from the train split to pad
    least, so that an epoch's batches have a few shapes (under a token budget, empty rows fill each length's last
    batch); `null`: each batch to its longest row, a multiple of 8"""
    gradient_accumulation_steps: PositiveInt
    """batches per optimizer step"""
    num_train_epochs: NonNegativeFloat
    """passes over the train split; 0 trains none: the checkpoint is evaluated as it is (docs/evaluation.md)"""
    weight_decay: NonNegativeFloat
    """AdamW weight decay"""
    warmup_steps: NonNegativeFloat
    """warm-up steps, a whole number; below 1, a fraction of all steps"""
    lr_scheduler_type: str
    """transformers' scheduler name (`linear`, `cosine`, `constant`, …; not those that need `lr_scheduler_kwargs`)"""
    optim: str
    """transformers' optimizer name (`adamw_torch`, `adafactor`, …); fused AdamW updates all weights in one kernel"""
    group_by_length: bool
    """batches of rows of similar length (less padding)"""
    precision: Literal["auto", "fp16", "bf16", "fp32"]
    """`auto` (bf16 on GPUs that have it, else fp16; fp32 on CPU), `fp16`, `bf16` or `fp32`: mixed precision
    (autocast) for training; fp16/bf16 need a CUDA GPU. Generation runs in fp32 (BENCHMARKS.md: half precision made
    it no faster on an H100)"""
    compile: Literal["none", "default", "reduce-overhead"]
    """`none`, `default` or `reduce-overhead`: torch.compile the model's step, once for each batch shape
    (`reduce-overhead` also replays each as a CUDA graph); needs `length_buckets` and `group_by_length`. The compile
    time is paid once a shape a run (`metrics/train.json`: `compile_seconds`)"""
    logging_steps: PositiveInt
    """optimizer steps between loss logs (train also logs at each checkpoint)"""
    save_steps: PositiveInt
    """steps between checkpoints in `models/checkpoints/`, whatever the evaluation schedule; an interrupted train
    stage resumes from the last one"""
    seed: int = Field(ge=0, le=2**32 - 1)  # numpy's seeds (set_seed) are 32-bit
    r"""seed of weights, data order and dropout, 0 to 2\*\*32−1"""
    eval_strategy: Literal["no", "epoch", "steps"]
    """`no`, `epoch` or `steps`: evaluate on the validation split during training (loss, ROUGE, gen_len), as the
    recipe does every epoch"""
    eval_steps: PositiveInt | None
    """steps between evaluations when `eval_strategy` is `steps`"""
    eval_max_samples: PositiveInt | None
    """first validation rows scored by each evaluation (`null`: all); generating summaries is most of an
    evaluation's cost"""
    per_device_eval_batch_size: PositiveInt
    """rows a batch in those evaluations"""
    generation_max_length: PositiveInt
    """longest summary generated in those evaluations (the evaluate stage has its own)"""
    generation_num_beams: PositiveInt
    """beam width in those evaluations"""
    load_best_model_at_end: bool
    """write the weights of the best evaluation, not the last step's; each evaluation is then checkpointed too,
    besides every `save_steps`"""
    metric_for_best_model: Literal["loss", "rouge1", "rouge2", "rougeL", "rougeLsum"]
    """`loss` (validation loss, lower is better) or a ROUGE type (higher is better)"""
    early_stopping_patience: PositiveInt | None
    """stop after this many evaluations without improvement (`null`: train all epochs); needs
    `load_best_model_at_end`"""
    gradient_checkpointing: bool
    """recompute activations in the backward pass instead of keeping them (transformers' activation checkpointing):
    less memory, about a third more compute (docs/training.md#larger-models)"""
    fsdp: bool
    """shard weights, gradients and optimizer state across the train stage's GPUs (`train.devices`, or a `torchrun`
    launch; FSDP2); needs CUDA GPUs and `eval_strategy: no`"""
    lora: Lora
    """LoRA adapters (peft) trained instead of the whole model (docs/training.md#larger-models)"""
    attention: Literal["eager", "sdpa", "flex"]
    """attention while fine-tuning: `eager` (scores materialized; PyTorch's SDPA must also differentiate T5's
    position bias, which halved training's speed on an H100), `sdpa`, or `flex` (FlexAttention: the position bias
    goes in as a score modification, no matrix of scores a row in memory). `flex` needs a CUDA GPU (torch has no
    FlexAttention backward on the CPU) and a model without attention dropout (FlexAttention has none; T5's
    `dropout_rate` is also its attention dropout, so t5-small's 0.1 is refused rather than dropped); summaries
    generated during training use eager attention. Trained models generate with SDPA whichever was used"""
    devices: Literal["auto"] | PositiveInt
    """processes the train stage runs, started by the stage itself through torch's launcher (`torchrun`'s)
    (docs/training.md#several-gpus-and-machines): `auto` is every visible GPU (1 process on a CPU); a number N is N
    GPUs, or N CPU processes (DDP over gloo) without CUDA. Ignored when `torchrun` started the stage"""


class Evaluate(Section):
    split: Literal["train", "validation", "test"]
    """split to summarize and score"""
    generation_max_length: PositiveInt
    """longest summary in tokens (the recipe's default of 20 cut summaries short)"""
    num_beams: PositiveInt
    """beam search width (1: greedy)"""
    per_device_eval_batch_size: PositiveInt
    """rows a generation batch"""
    # A 95% interval's ends are the 2.5th and 97.5th percentiles of the resampled means: under 100 resamples
    # they rest on one or two of them (at 1, the interval is a point); 1000 or more is the usual advice.
    bootstrap_samples: int = Field(ge=100)
    """bootstrap resamples for the 95% ROUGE intervals; at least 100"""


class Params(Section):
    fetch: Fetch
    """where the data comes from: the fetch stage writes `data/raw/` from it"""
    model: Model
    """the model fine-tuned: the preprocess stage takes its tokenizer, the train stage its weights"""
    preprocess: Preprocess
    """tokenization, by the preprocess stage"""
    train: Train
    """fine-tuning, by the train stage (transformers' Trainer)"""
    evaluate: Evaluate
    """the evaluate stage: summaries of a split and their ROUGE"""


def parse_yaml(text: str) -> Any:
    """YAML read as DVC reads params.yaml (dvc/utils/serialize/_yaml.py: ruamel.yaml's safe loader, YAML 1.2: `no`
    and `on` are text, `1e-3` a number, a key set twice an error), so that the stages run the values that
    `dvc params diff` and `dvc exp run -S` show."""
    return YAML(typ="safe").load(text)


def read_yaml(path: Path) -> Any:
    return parse_yaml(path.read_text())


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; any problem is a UserError naming the key."""
    try:
        raw = read_yaml(path)
    except FileNotFoundError:
        raise UserError(f"{path} not found in {Path.cwd()}: run the stages from the project root") from None
    except IsADirectoryError:
        raise UserError(
            f"{path} is not a file but a directory: bring back the project's (git checkout {path})"
        ) from None
    except YAMLError as error:
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
    check_work(path, params)
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
    if train.lora.r is not None and (params.model.checkpoint == EMBEDDED or params.model.from_scratch):
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
            f"{path}: train.compile needs batches of a few shapes (a CUDA graph is recorded for each): "
            "set train.length_buckets (e.g. 8) and train.group_by_length: true"
        )
    if train.fsdp and train.eval_strategy != "no":  # processes generate apart; sharded layers run only all in step
        raise UserError(
            f"{path}: train.fsdp cannot evaluate during training: set train.eval_strategy: no "
            "(and train.load_best_model_at_end: false); the evaluate stage scores the model after"
        )
    if train.attention == "flex" and params.model.checkpoint == EMBEDDED and params.model.embedded.dropout_rate > 0:
        raise UserError(
            f"{path}: train.attention: flex has no attention dropout: set model.embedded.dropout_rate to 0, "
            "or train.attention to eager or sdpa"
        )
    if params.fetch.source == "files":
        for split in SPLITS:
            if getattr(params.fetch.files, split) is None:
                raise UserError(f"{path}: fetch.files.{split} must name a file when fetch.source is files")
    return params


MOST_GENERATED_TOKENS = 1024  # a summary of more is no summary, and each token is a decoder step for every row
MOST_BOOTSTRAP_SAMPLES = 100_000  # 1,000 already place a 95% interval's ends to a few hundredths of ROUGE


def check_work(path: Path, params: Params) -> None:
    """Params that multiply a stage's work with nothing to gain past a point: refused there, not run for hours."""
    if params.evaluate.bootstrap_samples > MOST_BOOTSTRAP_SAMPLES:
        raise UserError(
            f"{path}: evaluate.bootstrap_samples: {params.evaluate.bootstrap_samples:,} resamples rescore every row "
            f"that often; at most {MOST_BOOTSTRAP_SAMPLES:,} (1,000 is the usual advice)"
        )
    for section in ("train", "evaluate"):
        length = getattr(params, section).generation_max_length
        if length > MOST_GENERATED_TOKENS:
            raise UserError(
                f"{path}: {section}.generation_max_length: {length:,} tokens a summary, each a step of the decoder "
                f"for every row; at most {MOST_GENERATED_TOKENS:,} (a one-sentence summary is ~20-30 tokens)"
            )


# The names transformers' Trainer takes for train.optim and train.lr_scheduler_type (its OptimizerNames and
# SchedulerType at the lock's version), written out: importing those enums imports Trainer's modules (3 s of every
# stage's start, fetch's whole run). tests/test_config.py fails, naming the difference, when an upgrade changes them.
OPTIMIZERS = (
    "adamw_torch", "adamw_torch_fused", "adamw_torch_xla", "adamw_torch_npu_fused", "adafactor", "adamw_anyprecision",
    "adamw_torch_4bit", "adamw_torch_8bit", "ademamix", "sgd", "adagrad", "adamw_bnb_8bit", "adamw_8bit",
    "ademamix_8bit", "lion_8bit", "lion_32bit", "paged_adamw_32bit", "paged_adamw_8bit", "paged_ademamix_32bit",
    "paged_ademamix_8bit", "paged_lion_32bit", "paged_lion_8bit", "rmsprop", "rmsprop_bnb", "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit", "galore_adamw", "galore_adamw_8bit", "galore_adafactor", "galore_adamw_layerwise",
    "galore_adamw_8bit_layerwise", "galore_adafactor_layerwise", "lomo", "adalomo", "grokadamw",
    "schedule_free_radam", "schedule_free_adamw", "schedule_free_sgd", "apollo_adamw", "apollo_adamw_layerwise",
    "stable_adamw",
)  # fmt: skip
# Less those that need lr_scheduler_kwargs (a minimum learning rate, decay steps), which params.yaml does not set:
# cosine_with_min_lr, cosine_warmup_with_min_lr, warmup_stable_decay
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt",
    "reduce_lr_on_plateau", "greedy",
)  # fmt: skip


def check_trainer_choices(path: Path, train: Train) -> None:
    """train.optim and train.lr_scheduler_type must be names transformers' Trainer takes."""
    for key, allowed in (("optim", OPTIMIZERS), ("lr_scheduler_type", SCHEDULERS)):
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
