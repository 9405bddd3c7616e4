"""The bad-input matrix: each case stops its stage with one line naming what to fix, exit status 1,
and no output written. The stages' own entry points run in-process in a temporary project copy."""
import importlib

import pytest
import torch

from conftest import make_repo, set_params
from summarization.cli import run_stage

JSONL_ROW = '{"document": "A document.", "summary": "A summary."}\n'
FILES = {"fetch.source": "files", "fetch.files.train": "in.jsonl", "fetch.files.validation": "in.jsonl",
         "fetch.files.test": "in.jsonl"}

CASES = [  # (stage, params overrides, content of in.jsonl or params.yaml, expected error)
    ("fetch", {}, ("params.yaml", "fetch: [unclosed\n"), "params.yaml is not valid YAML at line 2"),
    ("fetch", {"serve": {"port": 80}}, None, "params.yaml: serve: unknown key"),
    ("fetch", {"train.lr": 0.1}, None, "params.yaml: train.lr: unknown key"),
    ("fetch", {"train.learning_rate": 0}, None, "params.yaml: train.learning_rate: input should be greater than 0"),
    ("fetch", {"train.per_device_train_batch_size": 0}, None, "train.per_device_train_batch_size: input should be greater than 0"),
    ("fetch", {"preprocess.max_target_length": 0}, None, "preprocess.max_target_length: input should be greater than 0"),
    ("fetch", {"evaluate.num_beams": "two"}, None, "evaluate.num_beams: input should be a valid integer"),
    ("fetch", {"train.optim": "adamw_torhc"}, None, "train.optim: 'adamw_torhc' is not one of adamw_torch, "),
    ("fetch", {"train.lr_scheduler_type": "linaer"}, None, "train.lr_scheduler_type: 'linaer' is not one of linear, "),
    ("fetch", {"train.num_train_epochs": float("inf")}, None, "train.num_train_epochs: input should be a finite number"),
    ("fetch", {"train.seed": 2**32}, None, "train.seed: input should be less than or equal to 4294967295"),
    ("fetch", {"train.lora.target_modules": "q|(v"}, None, "train.lora.target_modules: not all-linear nor a valid"),
    ("fetch", FILES, None, "fetch.files.train: no such file in.jsonl"),
    ("fetch", FILES | {"fetch.files.train": "in.txt"}, ("in.txt", JSONL_ROW), "fetch.files.train: unsupported file type .txt"),
    ("fetch", FILES, ("in.jsonl", JSONL_ROW + '{"document": \n'), "in.jsonl:2: not valid JSON"),
    ("fetch", FILES, ("in.jsonl", b'{"document": "\xff", "summary": "s"}\n'), "in.jsonl: not UTF-8 text"),
    ("fetch", FILES | {"fetch.columns.summary": "headline"}, ("in.jsonl", JSONL_ROW), "fetch.columns.summary: no column 'headline'"),
    ("fetch", FILES, ("in.jsonl", '{"document": " ", "summary": ""}\n'), "the train split has no rows with both a document and a summary"),
    ("fetch", FILES, ("in.jsonl", '{"id": "7", "document": "a", "summary": "b"}\n' * 2), "duplicate id '7' in the train split"),
    ("fetch", {"fetch.source": "hub"}, None, "fetch.hub: cannot load EdinburghNLP/xsum at revision refs/convert/parquet"),
    ("preprocess", {}, None, "data/raw/train.parquet is missing: run the stage that writes it"),
    pytest.param("train", {"train.precision": "bf16"}, None, "train.precision: bf16 needs a CUDA GPU; use auto or fp32 on the CPU",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="bf16 is no mistake on a CUDA GPU")),
    ("train", {"train.attention": "flex"}, None, "train.attention: flex needs a CUDA GPU to train"),
    ("train", {}, None, "data/tokenized/train.parquet is missing: run the stage that writes it"),
    ("evaluate", {}, None, "models/summarizer holds no trained model: run the train stage (dvc repro)"),
    ("export", {}, None, "models/summarizer holds no trained model: run the train stage (dvc repro)"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("bad-input") / "repo")


@pytest.mark.parametrize("stage, overrides, content, expected", CASES,
                         ids=[getattr(case, "values", case)[3][:40] for case in CASES])  # a pytest.param holds its values
def test_bad_input(project, tmp_path, monkeypatch, capsys, stage, overrides, content, expected):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_bytes((project / "params.yaml").read_bytes())
    set_params(repo, overrides)
    if content:
        name, text = content
        (repo / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    monkeypatch.chdir(repo)
    main = getattr(importlib.import_module(f"stages.{stage}"), stage)
    with pytest.raises(SystemExit) as exit_:
        run_stage(main)
    message = str(exit_.value.code)
    assert message.startswith("error: ") and expected in message and "\n" not in message
    assert {path.name for path in repo.iterdir()} <= {"params.yaml", "in.jsonl", "in.txt"}  # nothing written
