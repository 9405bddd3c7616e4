"""The bad-input matrix: each case stops its stage with one line naming what to fix, exit status 1,
and no output written. The stages' own entry points run in-process in a temporary project copy."""

import importlib
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from conftest import make_repo, set_params
from summarization import modeling, significance
from summarization.cli import run_command
from summarization.config import load_params
from summarization.data import read_tokenizer
from summarization.errors import UserError, first_line

JSONL_ROW = '{"document": "A document.", "summary": "A summary."}\n'
FILES = {
    "fetch.source": "files",
    "fetch.files.train": "in.jsonl",
    "fetch.files.validation": "in.jsonl",
    "fetch.files.test": "in.jsonl",
}
PARQUET_FILES = {key: value.replace(".jsonl", ".parquet") for key, value in FILES.items()}
CSV_FILES = {key: value.replace(".jsonl", ".csv") for key, value in FILES.items()}


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


CASES = [  # (stage, params overrides, content of in.jsonl or params.yaml, expected error)
    ("fetch", {}, ("params.yaml", "fetch: [unclosed\n"), "params.yaml is not valid YAML at line 2"),
    ("fetch", {"serve": {"port": 80}}, None, "params.yaml: serve: unknown key"),
    ("fetch", {"train.lr": 0.1}, None, "params.yaml: train.lr: unknown key"),
    ("fetch", {"train.learning_rate": 0}, None, "params.yaml: train.learning_rate: input should be greater than 0"),
    (
        "fetch",
        {"train.per_device_train_batch_size": 0},
        None,
        "train.per_device_train_batch_size: input should be greater than 0",
    ),
    (
        "fetch",
        {"preprocess.max_target_length": 0},
        None,
        "preprocess.max_target_length: input should be greater than 0",
    ),
    ("fetch", {"evaluate.num_beams": "two"}, None, "evaluate.num_beams: input should be a valid integer"),
    ("fetch", {"train.optim": "adamw_torhc"}, None, "train.optim: 'adamw_torhc' is not one of adamw_torch, "),
    ("fetch", {"train.lr_scheduler_type": "linaer"}, None, "train.lr_scheduler_type: 'linaer' is not one of linear, "),
    (
        "fetch",
        {"train.num_train_epochs": float("inf")},
        None,
        "train.num_train_epochs: input should be a finite number",
    ),
    ("fetch", {"train.seed": 2**32}, None, "train.seed: input should be less than or equal to 4294967295"),
    ("fetch", {"train.lora.target_modules": "q|(v"}, None, "train.lora.target_modules: not all-linear nor a valid"),
    (
        "fetch",
        {"evaluate.bootstrap_samples": 1},
        None,
        "evaluate.bootstrap_samples: input should be greater than or equal to 100",
    ),
    ("fetch", FILES, None, "fetch.files.train: no such file in.jsonl"),
    (
        "fetch",
        FILES | {"fetch.files.train": "in.txt"},
        ("in.txt", JSONL_ROW),
        "fetch.files.train: unsupported file type .txt",
    ),
    ("fetch", FILES, ("in.jsonl", JSONL_ROW + '{"document": \n'), "in.jsonl:2: not valid JSON"),
    ("fetch", FILES, ("in.jsonl", b'{"document": "\xff", "summary": "s"}\n'), "in.jsonl: not UTF-8 text"),
    (
        "fetch",
        PARQUET_FILES,
        ("in.parquet", parquet_bytes(pa.table({"document": [b"caf\xe9"], "summary": [b"s"]}))),
        "fetch.columns.document: column 'document' in in.parquet is not UTF-8 text",
    ),
    ("fetch", FILES | {"fetch.files.train": "."}, None, "fetch.files.train: . is a directory, not a file"),
    (
        "fetch",
        FILES,
        ("in.jsonl", '[\n  {"document": "a", "summary": "b"}\n]\n'),
        "in.jsonl: a JSON array, not JSON lines: write one object a line",
    ),
    (
        "fetch",
        FILES,
        ("in.jsonl", JSONL_ROW.replace("A document.", "word " * 2_000_000)),
        "in.jsonl:1: a row of 9.5 MiB, longer than the reader takes (rows up to 2 MiB always fit)",
    ),
    (
        "fetch",
        CSV_FILES,
        ("in.csv", "document,summary\n" + "word " * 2_000_000 + ",s\n"),
        "in.csv: a row longer than the reader takes (rows up to 2 MiB always fit)",
    ),
    (
        "fetch",
        FILES | {"fetch.columns.summary": "headline"},
        ("in.jsonl", JSONL_ROW),
        "fetch.columns.summary: no column 'headline'",
    ),
    (
        "fetch",
        FILES | {"fetch.columns.summary": "document"},
        ("in.jsonl", JSONL_ROW),
        "fetch.columns.summary: 'document' is fetch.columns.document too: each names a column of its own",
    ),
    (
        "fetch",
        CSV_FILES,
        ("in.csv", "document,document,summary\na,b,c\n"),
        "in.csv: 2 columns are named 'document', so which one to read is ambiguous: rename the others",
    ),
    (
        "fetch",
        FILES,
        ("in.jsonl", '{"document": " ", "summary": ""}\n'),
        "the train split has no rows with both a document and a summary",
    ),
    (
        "fetch",
        FILES,
        ("in.jsonl", '{"id": "7", "document": "a", "summary": "b"}\n' * 2),
        "duplicate id '7' in the train split",
    ),
    (
        "fetch",
        {"fetch.source": "hub"},
        None,
        "fetch.hub: cannot load EdinburghNLP/xsum at revision refs/convert/parquet",
    ),
    ("preprocess", {}, None, "data/raw/train.parquet is missing: run the stage that writes it"),
    pytest.param(
        "train",
        {"train.precision": "bf16"},
        None,
        "train.precision: bf16 needs a CUDA GPU; use auto or fp32 on the CPU",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="bf16 is no mistake on a CUDA GPU"),
    ),
    ("train", {"train.attention": "flex"}, None, "train.attention: flex needs a CUDA GPU to train"),
    ("train", {}, None, "data/tokenized/train.parquet is missing: run the stage that writes it"),
    ("evaluate", {}, None, "models/summarizer holds no trained model: run the train stage (dvc repro)"),
    ("baseline", {}, None, "data/raw/test.parquet is missing: run the stage that writes it"),
    ("export", {}, None, "models/summarizer holds no trained model: run the train stage (dvc repro)"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("bad-input") / "repo")


def stage_error(repo: Path, monkeypatch, stage: str) -> str:
    """Run a stage's entry point in `repo`: it must stop with one error line, which is returned."""
    monkeypatch.chdir(repo)
    main = getattr(importlib.import_module(f"stages.{stage}"), stage)
    with pytest.raises(SystemExit) as exit_:
        run_command(main)
    message = str(exit_.value.code)
    assert message.startswith("error: ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    "stage, overrides, content, expected", CASES, ids=[getattr(case, "values", case)[3][:40] for case in CASES]
)  # a pytest.param holds its values
def test_bad_input(project, tmp_path, monkeypatch, stage, overrides, content, expected):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_bytes((project / "params.yaml").read_bytes())
    set_params(repo, overrides)
    if content:
        name, text = content
        (repo / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    assert expected in stage_error(repo, monkeypatch, stage)
    written = {path.name for path in repo.iterdir()} - {"params.yaml", "in.jsonl", "in.txt", "in.csv", "in.parquet"}
    assert not written


@pytest.fixture(scope="module")
def prepared(project, tmp_path_factory):
    """The project after fetch and preprocess, with an untrained model in models/summarizer and the records
    export reads beside it: what an interrupted or hand-run pipeline leaves for the next stage."""
    repo = tmp_path_factory.mktemp("prepared") / "repo"
    shutil.copytree(project, repo, symlinks=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        for stage in ("fetch", "preprocess"):
            run_command(getattr(importlib.import_module(f"stages.{stage}"), stage))
        tokenizer, params = read_tokenizer(Path("data/tokenized")), load_params()
        modeling.load_model(params.model, tokenizer, params.train.attention).save_pretrained("models/summarizer")
        tokenizer.save_pretrained("models/summarizer")
    for record in ("metrics/train.json", "metrics/rouge.json", "metrics/lead1.json", "reports/environment.json"):
        (repo / record).write_text("{}\n")
    return repo


def cut(path: str):
    """A file cut in half, as a kill or a full disk during its write leaves it."""
    return lambda: Path(path).write_bytes(Path(path).read_bytes()[: Path(path).stat().st_size // 2])


def conflicted(path: str):
    """A file as git leaves it after a merge that both sides changed."""
    return lambda: Path(path).write_text(f"<<<<<<< HEAD\n{Path(path).read_text()}=======\n{{}}\n>>>>>>> other\n")


def refetched():
    """fetch run again by hand with another seed, without preprocess after it."""
    set_params(Path("."), {"fetch.embedded.seed": 1})
    run_command(importlib.import_module("stages.fetch").fetch)


PREPARED_CASES = [  # (stage, what happened to the project, expected error)
    ("preprocess", cut("data/raw/train.parquet"), "data/raw/train.parquet is damaged (ArrowInvalid: "),
    (
        "train",
        cut("data/tokenized/train.parquet"),
        "data/tokenized/train.parquet is damaged (ArrowInvalid: Parquet magic bytes not found in footer. "
        "Either the file is corrupted or this is not a parquet file.): "
        "run `dvc checkout data/tokenized` or `dvc repro -f -s preprocess`",
    ),
    (
        "train",
        lambda: shutil.rmtree("data/tokenized/tokenizer"),
        "data/tokenized/tokenizer is missing: run the stage that writes it (dvc repro)",
    ),
    (
        "train",
        refetched,
        "data/tokenized/train.parquet was not made from data/raw/train.parquet as it is now: "
        "run `dvc repro` to bring data/tokenized up to date",
    ),
    ("evaluate", refetched, "data/tokenized/test.parquet was not made from data/raw/test.parquet as it is now"),
    (  # a params change that preprocess has not been run again for: the ids would be other tokens
        "train",
        lambda: set_params(Path("."), {"model.embedded.vocab_size": 3000}),
        "data/tokenized/train.parquet was tokenized with other params (model.embedded.vocab_size: 4000, now 3000): "
        "run `dvc repro` to bring data/tokenized up to date",
    ),
    (
        "evaluate",
        lambda: set_params(Path("."), {"preprocess.prefix": "tl;dr: "}),
        "data/tokenized/test.parquet was tokenized with other params (preprocess.prefix: 'summarize: ', now 'tl;dr: ')",
    ),
    (
        "evaluate",
        cut("models/summarizer/model.safetensors"),
        "cannot load the model in models/summarizer (Error while "
        "deserializing header: incomplete metadata, file not fully covered): run `dvc checkout models/summarizer` or "
        "`dvc repro -f -s train`",
    ),
    (
        "train",
        lambda: set_params(Path("."), {"train.gradient_accumulation_steps": 21}),
        "train.gradient_accumulation_steps (21) is more than the 20 batches of an epoch (320 train rows): "
        "set it to 20 or less",
    ),
    (
        "train",
        lambda: set_params(
            Path("."),
            {"train.gradient_accumulation_steps": 21, "train.length_buckets": 1, "train.max_tokens_per_batch": 16384},
        ),  # batches of 16 rows or more
        "train.gradient_accumulation_steps (21) is more than the ",
    ),
    (
        "preprocess",
        lambda: set_params(Path("."), {"model.checkpoint": "params.yaml"}),
        "model.checkpoint: params.yaml is a file: name the directory that holds it",
    ),
    (
        "train",
        lambda: set_params(Path("."), {"model.embedded.d_model": 2**36}),
        "(Cannot allocate memory)): lower the sizes in params.yaml (model.embedded widths, batch sizes, lengths, "
        "num_beams, train.lora.r)",
    ),
    (
        "export",
        conflicted("metrics/rouge.json"),
        "metrics/rouge.json is damaged (JSONDecodeError: Expecting value: "
        "line 1 column 1 (char 0)): run `git checkout metrics/rouge.json` or `dvc repro -f -s evaluate`",
    ),
]


@pytest.mark.parametrize("stage, change, expected", PREPARED_CASES, ids=[case[2][:50] for case in PREPARED_CASES])
def test_bad_input_after_earlier_stages(prepared, tmp_path, monkeypatch, stage, change, expected):
    repo = tmp_path / "repo"
    shutil.copytree(prepared, repo, symlinks=True)
    monkeypatch.chdir(repo)
    change()
    before = sorted(repo.rglob("*"))
    assert expected in stage_error(repo, monkeypatch, stage)
    assert sorted(repo.rglob("*")) == before  # nothing written


ROW = '{"id": "a", "reference": "A.", "rouge1": 1, "rouge2": 1, "rougeL": 1, "rougeLsum": 1}'


@pytest.mark.parametrize(
    "lines, expected",
    [
        ([ROW, ""], None),  # a trailing blank line is fine
        (
            [ROW, "{"],
            "data/predictions.jsonl is damaged (ValueError: line 2: Expecting property name "
            "enclosed in double quotes): run `dvc checkout data/predictions.jsonl` or `dvc repro -f -s evaluate`",
        ),
        (['{"rouge1": 1}'], "data/predictions.jsonl is damaged (ValueError: line 1: no 'id')"),
        (['["a"]'], "data/predictions.jsonl is damaged (ValueError: line 1: not a JSON object)"),
    ],
)
def test_significance_reads_predictions_line_by_line(prepared, tmp_path, monkeypatch, capsys, lines, expected):
    monkeypatch.chdir(tmp_path)
    shutil.copy(prepared / "dvc.yaml", "dvc.yaml")
    Path("data").mkdir()
    Path("data/predictions.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(sys, "argv", ["significance", "workspace", "workspace", "--json"])
    if expected is None:
        significance.main()
        assert '"delta": 0.0' in capsys.readouterr().out
        return
    with pytest.raises(SystemExit) as exit_:
        significance.main()
    assert str(exit_.value.code) == f"error: {expected}" or expected in str(exit_.value.code)


def test_significance_by_a_field_an_older_evaluation_lacks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("data/predictions.jsonl").write_text(ROW + "\n")  # evaluated before abstractiveness
    monkeypatch.setattr(sys, "argv", ["significance", "workspace", "workspace", "--examples", "1", "--by", "novel_2"])
    with pytest.raises(SystemExit) as exit_:
        significance.main()
    assert str(exit_.value.code) == (
        "error: data/predictions.jsonl at workspace has no 'novel_2' per example: it was evaluated before the field "
        "existed; rerun the evaluate stage there (dvc repro)"
    )


def test_a_library_error_that_introduces_a_list_keeps_the_list():
    error = OSError(
        "Couldn't instantiate the backend tokenizer from one of: \n(1) a `tokenizers` file, \n(2) a slow "
        "tokenizer to convert.\n"
    )
    assert first_line(error) == (
        "Couldn't instantiate the backend tokenizer from one of: (1) a `tokenizers` file, "
        "(2) a slow tokenizer to convert."
    )
    assert first_line(ValueError("one\ntwo")) == "one" and first_line(KeyError()) == "KeyError"


def test_significance_refuses_revisions_of_other_data():
    """Ids are row numbers or a source's own: after fetch.embedded.seed changes, the same id holds another example."""
    scores = dict.fromkeys(("rouge1", "rouge2", "rougeL", "rougeLsum"), 1.0)
    a, b = ({"x": {"id": "x", "reference": reference} | scores} for reference in ("One summary.", "Another."))
    with pytest.raises(UserError, match="^the two revisions hold other reference summaries for id 'x': their data"):
        significance.paired_differences(a, b)
