"""The pipeline's data files: raw splits (id, document, summary) and tokenized splits (id, input_ids,
labels), one parquet file per split. Parquet written from plain tables is byte-identical across reruns,
which datasets' cache files and random fingerprints are not."""
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from transformers import PreTrainedTokenizerBase

from summarization.cli import UserError, progress
from summarization.config import Preprocess

ENCODE_BATCH = 1000  # rows per tokenizer call: big enough for the Rust tokenizer, small enough for a progress bar


def split_file(directory: Path, split: str) -> Path:
    return directory / f"{split}.parquet"


def read_split(directory: Path, split: str) -> pa.Table:
    path = split_file(directory, split)
    if not path.is_file():
        raise UserError(f"{path} is missing: run the stage that writes it (dvc repro)")
    return pq.read_table(path)


def write_split(table: pa.Table, directory: Path, split: str) -> None:
    pq.write_table(table, split_file(directory, split))


def encode(table: pa.Table, tokenizer: PreTrainedTokenizerBase, cfg: Preprocess, split: str) -> tuple[pa.Table, dict]:
    """Token ids of prefixed documents and of summaries, truncated to the configured lengths, and
    statistics of the lengths before truncation."""
    sources, source_lengths = tokenize(tokenizer, prefixed(cfg.prefix, table.column("document").to_pylist()),
                                       cfg.max_source_length, f"tokenize {split} documents")
    targets, target_lengths = tokenize(tokenizer, table.column("summary").to_pylist(), cfg.max_target_length,
                                       f"tokenize {split} summaries", target=True)
    stats = {"rows": table.num_rows,
             "source_tokens": length_stats(source_lengths, cfg.max_source_length),
             "target_tokens": length_stats(target_lengths, cfg.max_target_length)}
    ids_type = pa.list_(pa.int32())
    encoded = pa.table({"id": table.column("id"), "input_ids": pa.array(sources, ids_type),
                        "labels": pa.array(targets, ids_type)})
    return encoded, stats


def prefixed(prefix: str, documents: list[str]) -> list[str]:
    """What the model reads: the task prefix (T5's "summarize: ") before each document."""
    return [prefix + document for document in documents]


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, description: str,
             target: bool = False) -> tuple[list[list[int]], list[int]]:
    """Token ids cut to max_length, and each text's length in tokens before the cut.

    The cut is the tokenizer's own truncation, which keeps its special tokens (T5's closing </s>,
    BART's <s> and </s>), so `tokenizer(text, truncation=True)` reads the same ids. The rows too long are
    encoded a second time, cut: the statistics need the full lengths."""
    text_key = "text_target" if target else "text"
    ids = []
    for start in progress(range(0, len(texts), ENCODE_BATCH), description):  # verbose off: long rows are cut below
        ids += tokenizer(**{text_key: texts[start:start + ENCODE_BATCH]}, verbose=False)["input_ids"]
    lengths = [len(row) for row in ids]
    too_long = [row for row, length in enumerate(lengths) if length > max_length]
    if too_long:
        cut = tokenizer(**{text_key: [texts[row] for row in too_long]}, truncation=True, max_length=max_length)
        for row, row_ids in zip(too_long, cut["input_ids"], strict=True):
            ids[row] = row_ids
    return ids, lengths


def length_stats(token_counts: list[int], max_length: int) -> dict:
    lengths = np.array(token_counts)
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"mean": round(float(lengths.mean()), 2), "p50": round(float(p50), 2), "p90": round(float(p90), 2), "p99": round(float(p99), 2),
            "max": int(lengths.max()), "truncated": round(float((lengths > max_length).mean()), 4)}

