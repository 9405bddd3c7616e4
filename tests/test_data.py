"""The split files: written in fixed row groups whatever the batches, tokenized as the tokenizer's own
truncation would (with exact statistics of the lengths before truncation), and memory-mapped for training."""

import json
import os
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from tokenizers import Tokenizer, normalizers
from transformers import AutoTokenizer

from conftest import PROJECT, T5_TOKENIZER, XSUM_SAMPLE, needs_fixtures
from summarization import data
from summarization.config import load_params
from summarization.outputs import atomic_dir

PARAMS = load_params(PROJECT / "params.yaml")


def test_split_files_depend_only_on_their_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "ROW_GROUP_ROWS", 4)
    table = pa.table(
        {"id": [str(i) for i in range(11)], "document": ["d"] * 11, "summary": ["s"] * 11}, schema=data.RAW_SCHEMA
    )
    for name, batch_rows in (("threes", 3), ("fives", 5), ("whole", 11)):
        assert data.write_split(table.to_batches(batch_rows), data.RAW_SCHEMA, tmp_path, name) == 11
    assert (
        (tmp_path / "threes.parquet").read_bytes()
        == (tmp_path / "fives.parquet").read_bytes()
        == (tmp_path / "whole.parquet").read_bytes()
    )
    metadata = pq.ParquetFile(tmp_path / "threes.parquet").metadata
    assert [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)] == [4, 4, 3]
    assert data.read_split(tmp_path, "threes").equals(table)


@needs_fixtures
def test_encoding_is_the_tokenizers_own_truncation_without_its_length_warning(tmp_path, capfd):
    tokenizer = AutoTokenizer.from_pretrained(T5_TOKENIZER)
    xsum = pajson.read_json(XSUM_SAMPLE)
    raw = pa.table(
        {
            "id": [str(row) for row in range(xsum.num_rows)],
            "document": xsum.column("document"),
            "summary": xsum.column("summary"),
        }
    )
    cfg = PARAMS.preprocess.model_copy(update={"max_source_length": 512, "max_target_length": 16})
    lengths = data.encode_split(raw.to_batches(3), tokenizer, cfg, tmp_path, "train", {data.MADE_FROM: "raw digest"})
    encoded = data.read_split(tmp_path, "train")
    documents = [cfg.prefix + document for document in raw.column("document").to_pylist()]
    summaries = raw.column("summary").to_pylist()
    assert encoded.column("input_ids").to_pylist() == tokenizer(documents, max_length=512, truncation=True)["input_ids"]
    assert (
        encoded.column("labels").to_pylist()
        == tokenizer(text_target=summaries, max_length=16, truncation=True)["input_ids"]
    )
    assert "Token indices sequence length" not in capfd.readouterr().err
    full = [len(ids) for ids in tokenizer(documents)["input_ids"]]
    assert lengths.source.tolist() == full and max(full) > 512
    assert lengths.truncation(cfg)["source_truncated"] == round(sum(n > 512 for n in full) / len(full), 4)
    assert lengths.percentiles()["source_tokens"]["max"] == max(full)


def test_the_train_split_is_memory_mapped_from_an_unnamed_copy(tmp_path):
    rows = 20_000  # ~740 KB of ids: far more than what reading allocates whatever the rows
    table = pa.table(
        {
            "id": [str(row) for row in range(rows)],
            "input_ids": [[5, 6, 1], [7, 1]] * (rows // 2),
            "labels": [[1]] * rows,
        },
        schema=data.TOKENIZED_SCHEMA,
    )
    (tmp_path / "tokenized").mkdir()
    data.write_split(
        table.to_batches(), data.TOKENIZED_SCHEMA, tmp_path / "tokenized", "train", {data.MADE_FROM: "raw digest"}
    )
    allocated = pa.total_allocated_bytes()
    dataset = data.read_dataset(tmp_path / "tokenized", "train")
    assert dataset[:] == table.to_pydict() and dataset.features["input_ids"].feature.dtype == "int32"
    # The rows are the mapped file's pages, not copies (a few bytes may go to what an earlier test left to collect)
    assert pa.total_allocated_bytes() - allocated < table.nbytes / 100
    assert [path.name for path in tmp_path.iterdir()] == ["tokenized"]  # the copy has no name to clean up


def test_what_a_killed_run_left_beside_an_output_goes_at_the_next_write(tmp_path):
    """kill -9 during preprocess leaves data/.tokenized.<pid>.<random>; the next write removes it, not the
    temporary files of a process still running."""
    output = tmp_path / "tokenized"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned, live = tmp_path / f".tokenized.{dead.stdout.strip()}.x1", tmp_path / f".tokenized.{os.getppid()}.x2"
    abandoned.mkdir()
    live.mkdir()
    with atomic_dir(output) as staging:
        (staging / "part").write_text("rows")
    assert sorted(path.name for path in tmp_path.iterdir()) == [live.name, "tokenized"]


def test_an_output_linked_elsewhere_is_replaced_there_and_the_link_kept(tmp_path):
    """data/raw as a link to a bigger disk: the folder it points to is replaced, twice, with nothing left over."""
    elsewhere, workspace = tmp_path / "disk", tmp_path / "workspace"
    (elsewhere / "raw").mkdir(parents=True)
    workspace.mkdir()
    (workspace / "raw").symlink_to(elsewhere / "raw")
    for rows in ("first", "second"):
        with atomic_dir(workspace / "raw") as staging:
            (staging / "part").write_text(rows)
    assert (workspace / "raw").is_symlink() and (workspace / "raw/part").read_text() == "second"
    assert [path.name for path in workspace.iterdir()] == ["raw"] and [p.name for p in elsewhere.iterdir()] == ["raw"]


@needs_fixtures
def test_plain_ascii_texts_skip_the_normalizer_and_get_the_same_ids():
    rng = random.Random(0)
    documents = [row["document"] for row in map(json.loads, XSUM_SAMPLE.read_text().splitlines())]
    texts = [
        *documents,  # all with newlines, which T5's normalizer maps to spaces, and one with £ (the whole tokenizer)
        *("".join(chr(rng.randrange(128)) for _ in range(rng.randrange(80))) for _ in range(2000)),  # controls, CRLF
        "</s> <pad>\n<extra_id_0>",  # special tokens' texts, read as such
        "<pa\nd> </\x01s> <extra_id_\t1>",  # characters the normalizer maps or drops cannot make or unmake one
        "",
        "é\r\nü",
    ]
    t5 = AutoTokenizer.from_pretrained(T5_TOKENIZER).backend_tokenizer
    embedded = Tokenizer.from_str(t5.to_str())
    embedded.normalizer = normalizers.NFKC()  # the embedded tokenizer's: ASCII as it is
    for encoder in (t5, embedded):
        token_ids = data.TokenIds(encoder)
        assert token_ids.bare is not None  # the fast path is taken
        assert token_ids(texts) == [encoding.ids for encoding in encoder.encode_batch_fast(texts)]
    assert sum(data.TokenIds(t5).normalized(document) is not None for document in documents) == 9
    replacing = Tokenizer.from_str(t5.to_str())  # a Replace among its normalizers: left to the whole tokenizer
    replacing.normalizer = normalizers.Sequence([t5.normalizer, normalizers.Replace("``", '"')])
    assert data.TokenIds(replacing).bare is None and data.TokenIds(replacing)(["``a``"]) == [
        replacing.encode("``a``").ids
    ]
