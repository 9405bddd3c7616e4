"""The summarize command's bad input: one line naming what to fix, and exit status 1. It runs in-process
here; its runs on a trained model, fetched or not, are in test_sharing.py."""

import io
import json
import shutil
import sys

import pyarrow as pa
import pytest
from transformers import GenerationConfig, T5ForConditionalGeneration

from conftest import PROJECT, run
from summarization import modeling, summarize, tokenizing
from summarization.config import load_params

CASES = [  # (command-line arguments, expected error)
    (["missing.jsonl"], "no such file missing.jsonl"),
    (
        ["in.jsonl", "--column", "text"],
        "in.jsonl has no column 'text' (it has id, document): name the documents' column",
    ),
    (["in.pdf"], "in.pdf: unsupported file type .pdf; use .txt, .jsonl, .json, .csv, .parquet"),
    (["empty.txt"], "no document to summarize: the input is empty"),
    (["in.jsonl", "--output", "out.csv"], "--output out.csv: use a file ending in .jsonl or .txt"),
    (["in.jsonl"], "models/shareable holds no trained model: run dvc repro here, or pass --model DIR"),
    (["in.jsonl", "--model", "data"], "data holds no trained model"),
    (["in.jsonl", "--model", "broken"], "broken has no tokenizer_config.json, which a trained model's directory holds"),
    (["in.jsonl", "--model", "plain"], "plain carries no summarization settings (config.json: task_specific_params"),
    (["data"], "data is a directory: give the files in it"),
    (["in.jsonl", "--model", "untokenized"], "untokenized has no tokenizer.json, which a trained model's directory"),
    (["in.jsonl", "--model", "cut"], "cut/generation_config.json is damaged (JSONDecodeError: Unterminated string"),
    (
        ["in.jsonl", "-o", "./in.jsonl"],
        "--output ./in.jsonl is also an input: the summaries would replace its documents",
    ),
]


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A model directory written by plain save_pretrained, without the export stage's settings."""
    directory = tmp_path_factory.mktemp("plain")
    params = load_params(PROJECT / "params.yaml")
    tokenizer = tokenizing.build_embedded_tokenizer(
        pa.table({"document": ["a b c"], "summary": ["a"]}).to_batches(), "", 16
    )
    T5ForConditionalGeneration(modeling.embedded_config(params.model.embedded, tokenizer)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.mark.parametrize("arguments, expected", CASES, ids=[case[1][:40] for case in CASES])
def test_bad_input(tmp_path, monkeypatch, plain_model, arguments, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"id": "a", "document": "A document."}\n')
    (tmp_path / "in.pdf").write_text("%PDF")
    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/config.json").write_text('{"model_type": "t5"}')
    (tmp_path / "plain").symlink_to(plain_model)
    (shutil.copytree(plain_model, tmp_path / "untokenized") / "tokenizer.json").unlink()
    cut = shutil.copytree(plain_model, tmp_path / "cut")
    (cut / "generation_config.json").write_text((cut / "generation_config.json").read_text()[:20])
    monkeypatch.setattr(sys, "argv", ["summarize", *arguments])
    with pytest.raises(SystemExit) as exit_:
        summarize.main()
    message = str(exit_.value.code)
    assert message.startswith("error: ") and expected in message and "\n" not in message
    assert not (tmp_path / "out.csv").exists()
    assert (tmp_path / "in.jsonl").read_text() == '{"id": "a", "document": "A document."}\n'


def test_standard_input_that_is_not_utf8(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9 au lait")))
    monkeypatch.setattr(sys, "argv", ["summarize"])
    with pytest.raises(SystemExit) as exit_:
        summarize.main()
    assert exit_.value.code == "error: standard input: not UTF-8 text (bad byte at offset 3)"


def test_a_reader_that_goes_away_ends_it_quietly(tmp_path, plain_model):
    """`summarize big.jsonl | head -1`, with a reader that leaves before the first summary is written (the
    settings that the export stage gives a model added by hand)."""
    model = shutil.copytree(plain_model, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config["task_specific_params"] = {"summarization": {"prefix": "", "batch_size": 8}}
    (model / "config.json").write_text(json.dumps(config))
    generation = GenerationConfig.from_pretrained(model)
    generation.update(max_length=8, num_beams=1)  # as the export stage sets them
    generation.save_pretrained(model)
    (tmp_path / "big.jsonl").write_text('{"document": "a b c"}\n' * 16)
    result = run("summarize --model model big.jsonl | true", tmp_path)
    assert result.stderr == ""


def test_a_clone_of_a_committed_run_is_told_to_pull_the_model(tmp_path, monkeypatch):
    """A colleague's fresh clone: dvc.lock records models/shareable, which DVC's remote holds; a rerun of the
    whole pipeline is not the way to it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "doc.txt").write_text("A document.\n")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  export:\n    cmd: python -m stages.export\n    outs:\n"
        "    - path: models/shareable\n      hash: md5\n      md5: 0123.dir\n"
    )
    monkeypatch.setattr(sys, "argv", ["summarize", "doc.txt"])
    with pytest.raises(SystemExit) as exit_:
        summarize.main()
    assert str(exit_.value.code) == (
        "error: models/shareable holds no trained model: run `dvc pull models/shareable` to fetch the committed one "
        "from the DVC remote, or pass --model DIR"
    )
