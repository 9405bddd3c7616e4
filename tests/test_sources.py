"""The three sources and the checks every split passes: schema, empty rows, ids, caps, bad files."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import PROJECT, XSUM_SAMPLE, make_repo, needs_fixtures, run
from summarization import corpus, rouge, sources
from summarization.config import SPLITS, load_params
from summarization.data import RAW_SCHEMA
from summarization.errors import UserError
from summarization.markup import markdown_table

PARAMS = load_params(PROJECT / "params.yaml")
COLUMNS = PARAMS.fetch.columns


def fetch_cfg(**changes):
    """The project's fetch section with some keys replaced."""
    return PARAMS.fetch.model_copy(update=changes)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def files_cfg(train, validation=None, test=None, **changes):
    files = PARAMS.fetch.files.model_copy(
        update={"train": str(train), "validation": str(validation or train), "test": str(test or train)}
    )
    return fetch_cfg(source="files", files=files, **changes)


def load_splits(cfg) -> dict[str, pa.Table]:
    """Every split read to its end, where the checks of a streamed split report."""
    return {split: pa.Table.from_batches(batches, RAW_SCHEMA) for split, batches in sources.load_splits(cfg).items()}


ROWS = [
    {"id": str(i), "document": f"Document number {i}.\nIt has two lines.", "summary": f"Summary {i}."} for i in range(5)
]


def test_embedded_corpus_is_deterministic_and_xsum_shaped():
    cfg = PARAMS.fetch.embedded.model_copy(update={"train_size": 50, "validation_size": 5, "test_size": 5})
    first, again = corpus.generate(cfg), corpus.generate(cfg)
    assert all(first[split].equals(again[split]) for split in SPLITS)
    assert first["train"].column_names == ["id", "document", "summary"]
    other = corpus.generate(cfg.model_copy(update={"seed": 1}))
    assert not first["train"].equals(other["train"])
    ids = [i for split in SPLITS for i in first[split].column("id").to_pylist()]
    assert len(set(ids)) == len(ids)


def test_embedded_summaries_are_abstractive():
    cfg = PARAMS.fetch.embedded.model_copy(update={"train_size": 200})
    train = corpus.generate(cfg)["train"]
    documents, summaries = train.column("document").to_pylist(), train.column("summary").to_pylist()
    assert all(summary not in document for document, summary in zip(documents, summaries))
    lead = [rouge.pair_scores(rouge.lead_sentence(d), s) for d, s in zip(documents, summaries)]
    assert 10 < sum(scores["rouge1"] for scores in lead) / len(lead) < 50  # the lead sentence is a weak baseline


def test_files_source_reads_jsonl_csv_and_parquet(tmp_path):
    jsonl = write_jsonl(tmp_path / "train.jsonl", ROWS)
    csv_path = tmp_path / "validation.csv"
    pacsv.write_csv(pa.Table.from_pylist(ROWS), csv_path)
    parquet = tmp_path / "test.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    splits = load_splits(files_cfg(jsonl, csv_path, parquet))
    for split in SPLITS:
        assert splits[split].to_pylist() == ROWS


def test_column_mapping_and_generated_ids(tmp_path):
    rows = [{"article": row["document"], "highlights": row["summary"]} for row in ROWS]
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    columns = COLUMNS.model_copy(update={"document": "article", "summary": "highlights"})
    splits = load_splits(files_cfg(path, columns=columns))
    assert splits["train"].column("id").to_pylist() == [f"train-{i}" for i in range(5)]
    assert splits["test"].column("document").to_pylist() == [row["document"] for row in ROWS]


def test_empty_rows_are_dropped_and_counted(tmp_path, capsys):
    rows = ROWS + [{"id": "9", "document": "  ", "summary": "x"}, {"id": "10", "document": "d", "summary": None}]
    splits = load_splits(files_cfg(write_jsonl(tmp_path / "data.jsonl", rows)))
    assert splits["train"].num_rows == 5
    assert "dropped 2 of 7 train rows with an empty document or summary" in capsys.readouterr().out


def test_sample_caps_keep_the_first_rows(tmp_path):
    splits = load_splits(files_cfg(write_jsonl(tmp_path / "d.jsonl", ROWS), max_train_samples=2))
    assert splits["train"].column("id").to_pylist() == ["0", "1"] and splits["test"].num_rows == 5


def test_streamed_files_keep_ids_caps_and_checks_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "READ_BLOCK_BYTES", 256)  # a few rows a block
    rows = [{"document": f"Document {i} " * 3, "summary": f"Summary {i}."} for i in range(40)]
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    assert len(list(sources.read_jsonl(path, lambda names: names))) > 5
    splits = load_splits(files_cfg(path, max_validation_samples=25))
    assert splits["train"].column("id").to_pylist() == [f"train-{i}" for i in range(40)]
    assert splits["validation"].column("document").to_pylist() == [row["document"] for row in rows[:25]]
    # Later blocks may fill a column that was empty so far, and bring fields the first block lacked.
    varied = [row | {"summary": None} if i < 8 else row | {"topic": i} for i, row in enumerate(rows)]
    splits = load_splits(files_cfg(write_jsonl(tmp_path / "varied.jsonl", varied)))
    assert splits["train"].column("summary").to_pylist() == [row["summary"] for row in rows[8:]]
    duplicate = write_jsonl(tmp_path / "duplicate.jsonl", [row | {"id": i % 30} for i, row in enumerate(rows)])
    with pytest.raises(UserError, match="duplicate id '0' in the train split"):
        load_splits(files_cfg(duplicate))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(path.read_text() + '{"document": "d",\n')
    with pytest.raises(UserError, match=r"broken.jsonl:41: not valid JSON"):
        load_splits(files_cfg(broken))


@needs_fixtures
def test_real_xsum_rows_without_ids():
    splits = load_splits(files_cfg(XSUM_SAMPLE))
    assert splits["train"].num_rows == 10
    assert splits["validation"].column("id").to_pylist()[0] == "validation-0"


def test_hub_source_on_a_local_dataset_directory(tmp_path):
    # datasets.load_dataset reads a local directory the same way as a Hub repository
    for split in SPLITS:
        pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / f"{split}.parquet")
    hub = PARAMS.fetch.hub.model_copy(update={"path": str(tmp_path), "revision": "main"})
    splits = load_splits(fetch_cfg(source="hub", hub=hub))
    assert splits["validation"].to_pylist() == ROWS


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"document": "d", "summary": "s"}\n{"document": "d2", "summ\n', r"data.jsonl:2: not valid JSON"),
        ('["a list"]\n', r"data.jsonl:1: expected a JSON object, got list"),
        (b'{"document": "caf\xe9", "summary": "s"}\n', r"data.jsonl: not UTF-8 text \(bad byte at offset 17\)"),
        (
            '{"document": "d", "headline": "s"}\n',
            r"fetch.columns.summary: no column 'summary' in .*data.jsonl \(it has document, headline\)",
        ),
        ('{"document": "", "summary": "s"}\n', r"the train split has no rows with both a document and a summary"),
        (
            '{"id": 1, "document": "a", "summary": "s"}\n{"id": 1, "document": "b", "summary": "t"}\n',
            r"duplicate id '1' in the train split",
        ),
        (
            '{"id": "a", "document": "a", "summary": "s"}\n{"id": null, "document": "b", "summary": "t"}\n',
            r"row 2 of the train split has no id \(fetch.columns.id: id\): give every row one",
        ),
        (b"document,summary\ncaf\xe9,s\n", r"data.csv: not UTF-8 text \(bad byte at offset 20\); save it as UTF-8"),
        ("document,summary\na,b\n".encode("utf-16"), r"data.csv: not UTF-8 text \(NUL bytes: UTF-16 or UTF-32\?\)"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / ("data.csv" if "data.csv" in message else "data.jsonl")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError, match=message):
        load_splits(files_cfg(path))


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(UserError, match=r"fetch.files.train: no such file .*nope.jsonl"):
        load_splits(files_cfg(tmp_path / "nope.jsonl"))
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(
        UserError, match=r"fetch.files.train: unsupported file type .xlsx .*use .jsonl, .json, .csv, .parquet"
    ):
        load_splits(files_cfg(tmp_path / "data.xlsx"))


@pytest.mark.slow
def test_an_edited_input_file_is_fetched_again(tmp_path):
    """fetch.files are paths in params.yaml: the content is a dependency too, through the inputs stage, so an edit
    re-runs fetch, and the run-cache never restores the rows of the file as it was."""
    repo = make_repo(
        tmp_path / "repo",
        {"fetch.source": "files"} | {f"fetch.files.{split}": "my.jsonl" for split in SPLITS},
    )
    write_jsonl(repo / "my.jsonl", [{"document": "Old document.", "summary": "Old."}])
    run("dvc repro fetch", repo)
    write_jsonl(repo / "my.jsonl", [{"document": "New document.", "summary": "New."}])
    assert "Running stage 'fetch'" in run("dvc repro fetch", repo).stdout
    assert pq.read_table(repo / "data/raw/train.parquet")["summary"].to_pylist() == ["New."]
    write_jsonl(repo / "my.jsonl", [{"document": "Newer document.", "summary": "Newer."}])
    run("rm -rf data/raw && dvc repro fetch", repo)
    assert pq.read_table(repo / "data/raw/train.parquet")["summary"].to_pylist() == ["Newer."]


def test_markdown_tables_escape_a_pipe_in_a_cell():
    assert markdown_table(["id"], [["a|b"]]).splitlines()[-1] == "| a\\|b |"
