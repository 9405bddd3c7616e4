"""The bad-input matrix: each case stops its stage with one line naming what to fix, exit status 1,
and no output written. The stages' own entry points run in-process in a temporary project copy."""

import importlib
import json
import os
import pty
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from conftest import PROJECT, activated_environment, make_repo, run_stages, set_params
from helpers import tiny_t5_dir
from summarization import modeling, resume, significance, summarize
from summarization.cli import run_command
from summarization.config import RESUME_DIR, load_params
from summarization.errors import UserError, first_line
from summarization.tokenizing import read_tokenizer

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
        {"train.num_train_epochs": True},
        None,
        "train.num_train_epochs: input should be a number, not true or false (got True)",
    ),
    ("fetch", {"train.devices": False}, None, "train.devices: input should be a number, not true or false"),
    (  # YAML 1.2, as DVC reads it: `yes` is text; pydantic would take it for true where DVC shows 'yes'
        "fetch",
        {"train.group_by_length": "yes"},
        None,
        "train.group_by_length: input should be a valid boolean (got 'yes')",
    ),
    (
        "fetch",
        {"train.learning_rate": "0.001"},
        None,
        "train.learning_rate: input should be a valid number (got '0.001')",
    ),
    (  # DVC refuses the file too (the same parser)
        "fetch",
        {},
        ("params.yaml", (PROJECT / "params.yaml").read_text() + "train:\n  seed: 1\n"),
        f"params.yaml is not valid YAML at line {len((PROJECT / 'params.yaml').read_text().splitlines()) + 1}: "
        'found duplicate key "train"',
    ),
    (
        "fetch",
        {"evaluate.bootstrap_samples": 100_000_000},
        None,
        "evaluate.bootstrap_samples: 100,000,000 resamples rescore every row that often; at most 100,000",
    ),
    (
        "fetch",
        {"evaluate.generation_max_length": 5000},
        None,
        "evaluate.generation_max_length: 5,000 tokens a summary",
    ),
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
        "in.jsonl:1: a row of 9.5 MiB, longer than the reader takes (rows up to 2 MiB always fit; a .parquet file "
        "has no such limit)",
    ),
    (
        "fetch",
        CSV_FILES,
        ("in.csv", "document,summary\n" + "word " * 2_000_000 + ",s\n"),
        "in.csv: a row longer than the reader takes (rows up to 2 MiB always fit; a .parquet file has no such limit)",
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
    ("pretrained", {"model.checkpoint": "t5-small"}, None, "data/tokenized/tokenizer is missing: run the stage"),
    ("examples", {}, None, "data/predictions.jsonl is missing in the workspace: run dvc repro"),
    ("export", {}, None, "models/summarizer holds no trained model: run the train stage (dvc repro)"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("bad-input") / "repo")


def stage_error(repo: Path, stage: str) -> str:
    """Run a stage's entry point in `repo`: it must stop with one error line, which is returned."""
    with pytest.raises(SystemExit) as exit_:
        run_stages(repo, stage)
    message = str(exit_.value.code)
    assert message.startswith("error: ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    "stage, overrides, content, expected", CASES, ids=[getattr(case, "values", case)[3][:40] for case in CASES]
)  # a pytest.param holds its values
def test_bad_input(project, tmp_path, stage, overrides, content, expected):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_bytes((project / "params.yaml").read_bytes())
    set_params(repo, overrides)
    if content:
        name, text = content
        (repo / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    assert expected in stage_error(repo, stage)
    written = {path.name for path in repo.iterdir()} - {"params.yaml", "in.jsonl", "in.txt", "in.csv", "in.parquet"}
    assert not written


@pytest.fixture(scope="module")
def prepared(project, tmp_path_factory):
    """The project after fetch and preprocess, with an untrained model in models/summarizer and the records
    export reads beside it: what an interrupted or hand-run pipeline leaves for the next stage."""
    repo = tmp_path_factory.mktemp("prepared") / "repo"
    shutil.copytree(project, repo, symlinks=True)
    run_stages(repo, "fetch", "preprocess")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
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
    run_stages(Path("."), "fetch")


def unwritable(directory: str):
    """A directory no file can be written in (a file in its place: tests run as root, whom permissions do not stop),
    or a file that is a directory."""

    def change():
        if Path(directory).is_dir():
            shutil.rmtree(directory)
            Path(directory).write_text("")
        else:  # a file that is a directory
            Path(directory).unlink()
            Path(directory).mkdir()

    return change


PREPARED_CASES = [  # (stage, what happened to the project, expected error)
    # predictions are written first: they must not be replaced when the metrics cannot be
    ("evaluate", unwritable("metrics"), "cannot write metrics/rouge.json: File exists; the previous"),
    (
        "train",
        unwritable("models"),
        "cannot write models/checkpoints: File exists; models/checkpoints/ is left as it was",
    ),
    (
        "preprocess",
        unwritable("params.yaml"),
        "params.yaml is not a file but a directory: bring back the project's (git checkout params.yaml)",
    ),
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
        "models/summarizer/model.safetensors is damaged (SafetensorError: Error while deserializing header: "
        "incomplete metadata, file not fully covered): run `dvc checkout models/summarizer` or `dvc repro -f -s train`",
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
    assert expected in stage_error(repo, stage)
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


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """The prepared project after one epoch of train, with the checkpoint a run killed at its end leaves (step 20;
    Trainer keeps only the last)."""
    repo = tmp_path_factory.mktemp("trained") / "repo"
    shutil.copytree(prepared, repo, symlinks=True)
    set_params(repo, {"train.num_train_epochs": 1, "train.save_steps": 10, "train.eval_strategy": "no"})
    set_params(repo, {"train.load_best_model_at_end": False})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resume, "clear", lambda directory: None)  # as if killed before the end
        run_stages(repo, "train", "evaluate", "baseline", "export")
    (repo / "doc.txt").write_text("A document to summarize.\n")
    return repo


def damaged(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "rewritten":  # its size kept: a bad copy, a disk's error, a hand (the same bytes each run)
        path.write_bytes(random.Random(path.name).randbytes(path.stat().st_size))
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def checkpoint_files(trained) -> list[str]:
    last = Path(resume.last_complete(trained / RESUME_DIR))
    return sorted(path.name for path in last.iterdir())


@pytest.mark.parametrize("how", ["missing", "truncated", "rewritten"])
def test_every_file_of_a_damaged_checkpoint_is_caught_before_resuming(trained, tmp_path, capsys, how):
    """Each file of a real checkpoint, missing or cut short: the run starts afresh (or resumes from the checkpoint
    before it, test_resume.py), with a warning naming the file."""
    names = checkpoint_files(trained)
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= set(names)
    for name in names:
        directory = tmp_path / name
        shutil.copytree(trained / RESUME_DIR, directory)
        run_id = (directory / resume.FINGERPRINT_FILE).read_text()
        damaged(directory / "checkpoint-20" / name, how)
        assert resume.resume_point(directory, run_id) is None, name
        assert f"checkpoint-20 is damaged ({name}" in capsys.readouterr().err or name == resume.FILES_RECORD


def test_training_resumes_past_a_checkpoint_with_damaged_weights(trained, tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(trained, repo, symlinks=True)
    monkeypatch.chdir(repo)
    Path(RESUME_DIR / "checkpoint-20/model.safetensors").write_bytes(b"\0" * 1000)
    run_stages(repo, "train")
    out, err = capsys.readouterr()
    assert "checkpoint-20 is damaged (model.safetensors has 1,000 bytes" in err
    assert "resuming" not in out and "train: 20 steps in" in out and not RESUME_DIR.exists()  # a fresh run


@pytest.mark.parametrize("recorded", [False, True], ids=["changed-since", "written-so"])
def test_a_checkpoint_that_does_not_load_is_set_aside_in_one_line(trained, tmp_path, monkeypatch, capsys, recorded):
    """Random bytes of optimizer.pt's size, put there since the checkpoint was recorded or before (a checkpoint its
    record vouches for, which Trainer still cannot load): one warning line, and a fresh run."""
    repo = tmp_path / "repo"
    shutil.copytree(trained, repo, symlinks=True)
    monkeypatch.chdir(repo)
    damaged(RESUME_DIR / "checkpoint-20/optimizer.pt", "rewritten")
    if recorded:
        resume.record_files(RESUME_DIR / "checkpoint-20")
    run_command(importlib.import_module("stages.train").train)
    out, err = capsys.readouterr()
    (warning,) = err.splitlines()
    problem = "does not load: " if recorded else "has other bytes than were written"  # the error: what torch reads
    assert warning.startswith(f"train: warning: {RESUME_DIR}/checkpoint-20 is damaged (optimizer.pt {problem}")
    assert "resuming" not in out and "train: 20 steps in" in out and not RESUME_DIR.exists()  # a fresh run


def test_one_train_stage_at_a_time_on_the_checkpoints(trained, tmp_path):
    """A second train stage beside a running one (another terminal, dvc exp run) stops before touching its
    checkpoints; the lock goes with the process that holds it, killed or not."""
    repo = tmp_path / "repo"
    shutil.copytree(trained, repo, symlinks=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from summarization import resume; resume.hold(resume.Path('models/checkpoints')); "
            "print('held', flush=True); input()",
        ],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    before = sorted(repo.rglob("*"))
    assert stage_error(repo, "train") == (
        "error: another train stage is using models/checkpoints/ (it holds a lock on models/): "
        "let it end, or stop it, first"
    )
    assert sorted(repo.rglob("*")) == before
    holder.kill()
    holder.wait()
    resume.hold(repo / RESUME_DIR)  # free again


def summarize_shareable():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["summarize", "doc.txt", "-o", "summaries.jsonl"])
        summarize.summarize()


MODEL_READERS = {  # a model directory, and the commands that read it
    "models/summarizer": [
        importlib.import_module("stages.evaluate").evaluate,
        importlib.import_module("stages.export").export,
    ],
    "models/shareable": [summarize_shareable],
}
NOT_READ = {"models/shareable": {"README.md"}}  # the model card: for people, and the Hub


@pytest.mark.parametrize("directory", MODEL_READERS)
def test_every_file_of_a_model_directory_missing_or_cut_short(trained, monkeypatch, directory):
    """Each file of a real model directory, missing or cut in half, for each command that reads it: one line
    naming the directory or the file, and nothing written."""
    monkeypatch.chdir(trained)
    names = sorted(path.name for path in Path(directory).iterdir())
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"} <= set(names)
    for name in sorted(set(names) - NOT_READ.get(directory, set())):
        path = Path(directory) / name
        original = path.read_bytes()
        for how in ("missing", "truncated"):
            damaged(path, how)
            before = sorted(Path(".").rglob("*"))
            try:
                for main in MODEL_READERS[directory]:
                    with pytest.raises(SystemExit) as exit_:
                        run_command(main)
                    message = str(exit_.value.code)
                    assert message.startswith("error: ") and "\n" not in message, (name, how, message)
                    assert directory in message, (name, how, message)
                    assert sorted(Path(".").rglob("*")) == before, (name, how)
            finally:
                path.write_bytes(original)


EXITING_WITH_DVCLIVE_OPEN = """
from dvclive import Live
from summarization.cli import run_command
from summarization.errors import UserError

live = Live("dvclive", dvcyaml=None, save_dvc_exp=False)  # as train's curves: it opens the git repository's packs


def train():
    raise UserError("a problem to fix")


run_command(train)
"""


def test_a_failing_stage_prints_its_error_line_alone(project, tmp_path):
    """Objects that outlive a failed stage (dvclive's git repository) are finalized as the interpreter exits, where
    dulwich's __del__ printed ~15 ignored ImportErrors under the one line."""
    repo = tmp_path / "repo"
    shutil.copytree(project, repo, symlinks=True)
    subprocess.run(["git", "gc", "-q"], cwd=repo, check=True)  # packs, as in a clone
    result = subprocess.run([sys.executable, "-c", EXITING_WITH_DVCLIVE_OPEN], cwd=repo, capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (1, "error: a problem to fix\n")


EVIL = """import pathlib
pathlib.Path({marker!r}).write_text("ran")
from transformers import PreTrainedTokenizerFast as EvilTokenizer, T5Config as EvilConfig
from transformers import T5ForConditionalGeneration as EvilModel
"""
CODE_OF_ITS_OWN = {  # a config.json or tokenizer_config.json that names a Python file beside it
    "config.json": {"auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForSeq2SeqLM": "evil.EvilModel"}},
    "tokenizer_config.json": {
        "tokenizer_class": "EvilTokenizer",
        "auto_map": {"AutoTokenizer": [None, "evil.EvilTokenizer"]},
    },
}


def plant_code(folder: Path, marker: Path) -> None:
    """What a colleague with write access to the remote could push: Python code beside a model or tokenizer, named
    by its config; the config.json without model_type, so that transformers has no class of its own for it."""
    (folder / "evil.py").write_text(EVIL.format(marker=str(marker)))
    for name, entries in CODE_OF_ITS_OWN.items():
        if (folder / name).is_file():
            config = json.loads((folder / name).read_text()) | entries
            config.pop("model_type", None)
            (folder / name).write_text(json.dumps(config))


def run_answering_yes(command: list[str], cwd: Path, terminal: bool) -> tuple[int, str]:
    """Run `command` with "y" typed ahead, on a terminal (a pty) or off one (transformers asks on both, and takes a
    yes from stdin); its exit status and what it printed."""
    env = activated_environment()
    if not terminal:
        result = subprocess.run(command, cwd=cwd, env=env, input="y\ny\n", capture_output=True, text=True, timeout=600)
        return result.returncode, result.stdout + result.stderr
    controller, attached = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=attached, stdout=attached, stderr=attached)
    os.close(attached)
    os.write(controller, b"y\ny\n")
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every end of the terminal is closed
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=600), output.decode(errors="replace")


UNTRUSTED_FOLDERS = {  # a folder the project loads a model or tokenizer from, and a command that loads it
    "data/tokenized/tokenizer": ["-m", "stages.train"],
    "models/summarizer": ["-m", "stages.export"],
    "models/shareable": ["-m", "summarization.summarize", "doc.txt", "-o", "summaries.jsonl"],
    "checkpoint": ["-m", "stages.preprocess"],  # the local directory model.checkpoint names
    "models/checkpoints/checkpoint-20": ["-m", "stages.train"],  # resumed
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "folder, terminal",
    [(folder, number % 2 == 0) for number, folder in enumerate(UNTRUSTED_FOLDERS)],
    ids=[
        f"{folder}-{'terminal' if number % 2 == 0 else 'no-terminal'}"
        for number, folder in enumerate(UNTRUSTED_FOLDERS)
    ],
)
def test_code_in_a_shared_folder_is_never_run_nor_asked_about(trained, tmp_path, folder, terminal):
    """Each folder the project loads from, with a Python file its config names, loaded by a real stage or command
    in a subprocess with "y" typed ahead: a one-line refusal or the code ignored, never a prompt, never run. The
    folders take turns on a terminal and off one: transformers asks the same way on both (input(), not isatty)."""
    repo, marker = tmp_path / "repo", tmp_path / "code-ran"
    shutil.copytree(trained, repo, symlinks=True)
    if folder == "checkpoint":
        (repo / folder).mkdir()
        tiny_t5_dir(repo / folder)
        set_params(repo, {"model.checkpoint": folder})
    plant_code(repo / folder, marker)
    if folder.startswith("models/checkpoints"):  # planted, then recorded: a whole checkpoint to resume
        resume.record_files(repo / folder)
    status, output = run_answering_yes([sys.executable, *UNTRUSTED_FOLDERS[folder]], repo, terminal)
    assert not marker.exists() and "[y/N]" not in output and "trust_remote_code" not in output, output
    assert "Traceback" not in output, output
    if folder.startswith("models/checkpoints"):  # Trainer reads the weights alone: the code is ignored
        assert status == 0 and "train: resuming from models/checkpoints/checkpoint-20" in output, output
    else:
        (line,) = [line for line in output.splitlines() if line.startswith("error: ")]
        assert status == 1 and "names Python code of its own" in line, output


def test_export_shares_the_files_a_model_needs_and_nothing_else(trained, tmp_path, monkeypatch):
    """Stray files stay behind, and code named beside classes transformers has (so ignored) is named no more."""
    repo = tmp_path / "repo"
    shutil.copytree(trained, repo, symlinks=True)
    monkeypatch.chdir(repo)
    for name in ("evil.py", "notes.txt", "training_args.bin"):
        Path("models/summarizer", name).write_text("not a model's\n")
    for name, entries in CODE_OF_ITS_OWN.items():
        path = Path("models/summarizer", name)
        path.write_text(json.dumps(json.loads(path.read_text()) | {"auto_map": entries["auto_map"]}))
    run_command(importlib.import_module("stages.export").export)
    assert not any("auto_map" in path.read_text() for path in Path("models/shareable").glob("*.json"))
    assert sorted(path.name for path in Path("models/shareable").iterdir()) == [
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
