"""params.yaml validation: every mistake is a one-line UserError naming the key."""

import json
import shutil

import pytest
import torch
import transformers
import yaml
from transformers import get_scheduler
from transformers.trainer_utils import SchedulerType
from transformers.training_args import OptimizerNames

from conftest import PROJECT, run, set_params
from summarization.config import OPTIMIZERS, SCHEDULERS, load_params, read_yaml
from summarization.errors import UserError


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(PROJECT / "params.yaml", path)
    return path


def test_project_params_are_valid_and_run_offline():
    """The committed params load, and are the embedded default that the README's quick start runs offline: the
    generated corpus and a model built from a config, nothing from the Hub."""
    params = load_params(PROJECT / "params.yaml")
    assert params.fetch.source == "embedded" and params.model.checkpoint == "embedded"


def test_exponent_notation_is_a_float(params_file):
    # YAML 1.2 (DVC's, and the stages') reads 2e-5 as a float, where PyYAML's 1.1 read text
    set_params(params_file.parent, {"train.learning_rate": "2e-5"})
    assert load_params(params_file).train.learning_rate == 2e-5


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("train.learning_rate", -1, "train.learning_rate: input should be greater than 0 (got -1)"),
        ("train.learning_rate", 0, "train.learning_rate: input should be greater than 0"),
        ("train.per_device_train_batch_size", 0, "train.per_device_train_batch_size: input should be greater than 0"),
        ("train.num_train_epochs", "many", "train.num_train_epochs: input should be a valid number"),
        ("preprocess.max_source_length", 0, "preprocess.max_source_length: input should be greater than 0"),
        ("evaluate.generation_max_length", 0, "evaluate.generation_max_length: input should be greater than 0"),
        ("train.precision", "fp8", "train.precision: input should be 'auto', 'fp16', 'bf16' or 'fp32'"),
        ("fetch.source", "ftp", "fetch.source: input should be 'embedded', 'hub' or 'files'"),
        ("evaluate.split", "dev", "evaluate.split: input should be 'train', 'validation' or 'test'"),
        ("train.lr", 0.1, "train.lr: unknown key"),
        ("train.lora.r", 0, "train.lora.r: input should be greater than 0 (got 0)"),
        ("train.lora.dropout", 1, "train.lora.dropout: input should be less than 1"),
        ("train.lora.target_modules", 5, "train.lora.target_modules: input should be a valid list (got 5)"),
        ("train.attention", "flash", "train.attention: input should be 'eager', 'sdpa' or 'flex' (got 'flash')"),
        ("train.devices", 0, "train.devices: input should be 'auto' or input should be greater than 0 (got 0)"),
        ("train.devices", "all", "train.devices: input should be 'auto' or input should be a valid integer"),
        ("train.lora.target_modules", [], "train.lora.target_modules: list should have at least 1 item"),
        (
            "train.lora.target_modules",
            "q|(v",
            "train.lora.target_modules: not all-linear nor a valid regular expression",
        ),
        ("train.num_train_epochs", float("inf"), "train.num_train_epochs: input should be a finite number (got inf)"),
        ("train.learning_rate", float("nan"), "train.learning_rate: input should be a finite number"),
        (
            "train.warmup_steps",
            2.5,
            "train.warmup_steps must be a fraction below 1 or a whole number of steps, got 2.5",
        ),
        ("train.seed", -1, "train.seed: input should be greater than or equal to 0"),
        ("train.seed", 2**32, "train.seed: input should be less than or equal to 4294967295"),
        ("train.optim", "adamw_torhc", "train.optim: 'adamw_torhc' is not one of adamw_torch, adamw_torch_fused, "),
        ("train.lr_scheduler_type", "linaer", "train.lr_scheduler_type: 'linaer' is not one of linear, cosine, "),
        (
            "train.lr_scheduler_type",
            "cosine_with_min_lr",
            "train.lr_scheduler_type: 'cosine_with_min_lr' is not one of",
        ),
        ("fetch.hub.revision", "", "fetch.hub.revision: string should have at least 1 character"),
        ("fetch.columns.summary", "", "fetch.columns.summary: string should have at least 1 character"),
        (
            "model.embedded.num_heads",
            3,
            "model.embedded.d_model (128) must be a multiple of model.embedded.num_heads (3)",
        ),
    ],
)
def test_bad_value_names_the_key(params_file, key, value, message):
    set_params(params_file.parent, {key: value})
    with pytest.raises(UserError) as error:
        load_params(params_file)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_optimizers_and_schedulers_allowed_are_those_the_trainer_builds():
    # Every optimizer transformers names; every scheduler it names but those that fail without lr_scheduler_kwargs
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

    def builds(scheduler: str) -> bool:
        try:
            get_scheduler(scheduler, optimizer, num_warmup_steps=1, num_training_steps=10)
        except (TypeError, ValueError):
            return False
        return True

    version = f"transformers {transformers.__version__}"
    expected = [name.value for name in OptimizerNames]
    assert list(OPTIMIZERS) == expected, f"{version}: config.OPTIMIZERS should be {expected}"
    expected = [name.value for name in SchedulerType if builds(name.value)]
    assert list(SCHEDULERS) == expected, f"{version}: config.SCHEDULERS should be {expected}"


def test_unknown_section_and_missing_key(params_file):
    params = yaml.safe_load(params_file.read_text())
    params["serve"] = {"port": 1}
    params_file.write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="serve: unknown key"):
        load_params(params_file)
    del params["serve"], params["train"]["seed"]
    params_file.write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="train.seed: missing"):
        load_params(params_file)


def test_invalid_yaml_gives_the_line(params_file):
    params_file.write_text("fetch:\n  source: [embedded\n")
    with pytest.raises(UserError, match=r"params.yaml is not valid YAML at line 3"):
        load_params(params_file)


def test_missing_params_file(tmp_path):
    with pytest.raises(UserError, match="params.yaml not found"):
        load_params(tmp_path / "params.yaml")


def test_files_source_needs_every_split(params_file):
    set_params(params_file.parent, {"fetch.source": "files", "fetch.files.train": "train.jsonl"})
    with pytest.raises(UserError, match="fetch.files.validation must name a file when fetch.source is files"):
        load_params(params_file)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train.eval_strategy": "steps"}, "train.eval_steps must be set when train.eval_strategy is steps"),
        (
            {"train.eval_strategy": "no"},
            "train.load_best_model_at_end needs evaluations: set train.eval_strategy to epoch or steps",
        ),
        (
            {"train.load_best_model_at_end": False, "train.early_stopping_patience": 2},
            "train.early_stopping_patience needs train.load_best_model_at_end: true",
        ),
        ({"train.metric_for_best_model": "bleu"}, "train.metric_for_best_model: input should be 'loss', 'rouge1'"),
        (
            {
                "train.load_best_model_at_end": False,
                "train.eval_strategy": "no",
                "train.lr_scheduler_type": "reduce_lr_on_plateau",
            },
            "train.lr_scheduler_type reduce_lr_on_plateau needs evaluations: set train.eval_strategy to epoch or steps",
        ),
    ],
)
def test_evaluation_during_training_settings_that_cannot_work(params_file, overrides, message):
    set_params(params_file.parent, overrides)
    with pytest.raises(UserError, match=message):
        load_params(params_file)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"train.lora.r": 8},
            "train.lora.r: LoRA adapts pretrained weights, and model.checkpoint embedded or model.from_scratch",
        ),
        ({"train.fsdp": True}, "train.fsdp cannot evaluate during training: set train.eval_strategy: no"),
        (
            {"train.attention": "flex", "model.embedded.dropout_rate": 0.1},
            "train.attention: flex has no attention dropout: set model.embedded.dropout_rate to 0, "
            "or train.attention to eager or sdpa",
        ),
    ],
)
def test_larger_model_settings_that_cannot_work(params_file, overrides, message):
    set_params(params_file.parent, overrides)
    with pytest.raises(UserError, match=message):
        load_params(params_file)


# Values YAML 1.1 (PyYAML) and 1.2 (ruamel, DVC's) read apart
AMBIGUOUS = {"a": "no", "b": "on", "c": "off", "d": "yes", "e": "1e-3", "f": "2e-5"}


def test_params_read_as_dvc_params_diff_and_exp_run_set_them(tmp_path):
    """The stages read params.yaml's values as `dvc params diff` shows them, and as `dvc exp run -S` sets them."""
    run("git init -q && dvc init -q", tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages:\n  probe:\n    cmd: echo\n    params: [probe]\n")
    (tmp_path / "params.yaml").write_text("probe:\n" + "".join(f"  {key}: 0\n" for key in AMBIGUOUS))
    run("git add -A && git commit -qm probe", tmp_path)
    (tmp_path / "params.yaml").write_text("probe:\n" + "".join(f"  {k}: {v}\n" for k, v in AMBIGUOUS.items()))

    def shown() -> dict:
        changes = json.loads(run("dvc params diff --json", tmp_path).stdout)["params.yaml"]
        return {name.removeprefix("probe."): change["new"] for name, change in changes.items()}

    read = read_yaml(tmp_path / "params.yaml")["probe"]
    assert read == shown() == {"a": "no", "b": "on", "c": "off", "d": "yes", "e": 0.001, "f": 2e-05}
    run("git checkout -q params.yaml", tmp_path)
    run("dvc exp run -q " + " ".join(f"-S probe.{k}={v}" for k, v in AMBIGUOUS.items()), tmp_path)
    assert read_yaml(tmp_path / "params.yaml")["probe"] == shown() == read


def test_no_is_the_documented_eval_strategy(params_file):
    """`dvc exp run -S train.eval_strategy=no` writes `no` unquoted: the text no, as DVC reads it."""
    params_file.write_text(
        params_file.read_text()
        .replace("eval_strategy: epoch", "eval_strategy: no")
        .replace("load_best_model_at_end: true", "load_best_model_at_end: false")
    )
    assert load_params(params_file).train.eval_strategy == "no"
