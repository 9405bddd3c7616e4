"""The summarize command's bad input: one line naming what to fix, and exit status 1. It runs in-process
here; its runs on a trained model, fetched or not, are in test_sharing.py."""
import sys

import pyarrow as pa
import pytest
from transformers import T5ForConditionalGeneration

from conftest import PROJECT
from summarization import modeling, summarize
from summarization.config import load_params

CASES = [  # (command-line arguments, expected error)
    (["missing.jsonl"], "no such file missing.jsonl"),
    (["in.jsonl", "--column", "text"], "in.jsonl has no column 'text' (it has id, document): name the documents' column"),
    (["in.pdf"], "in.pdf: unsupported file type .pdf; use .txt, .jsonl, .json, .csv, .parquet"),
    (["empty.txt"], "no document to summarize: the input is empty"),
    (["in.jsonl", "--output", "out.csv"], "--output out.csv: use a file ending in .jsonl or .txt"),
    (["in.jsonl"], "models/shareable holds no trained model: run dvc repro here, or pass --model DIR"),
    (["in.jsonl", "--model", "data"], "data holds no trained model"),
    (["in.jsonl", "--model", "broken"], "cannot load the model in broken ("),
    (["in.jsonl", "--model", "plain"], "plain carries no summarization settings (config.json: task_specific_params"),
]


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A model directory written by plain save_pretrained, without the export stage's settings."""
    directory = tmp_path_factory.mktemp("plain")
    params = load_params(PROJECT / "params.yaml")
    tokenizer = modeling.build_embedded_tokenizer(pa.table({"document": ["a b c"], "summary": ["a"]}).to_batches(), "", 16)
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
    monkeypatch.setattr(sys, "argv", ["summarize", *arguments])
    with pytest.raises(SystemExit) as exit_:
        summarize.main()
    message = str(exit_.value.code)
    assert message.startswith("error: ") and expected in message and "\n" not in message
    assert not (tmp_path / "out.csv").exists()
