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
    documents = [cfg.prefix + text for text in table.column("document").to_pylist()]
    summaries = table.column("summary").to_pylist()
    sources, targets = [], []
    for start in progress(range(0, len(documents), ENCODE_BATCH), f"tokenize {split}"):
        sources += tokenizer(documents[start:start + ENCODE_BATCH])["input_ids"]
        targets += tokenizer(text_target=summaries[start:start + ENCODE_BATCH])["input_ids"]
    closing = tokenizer.num_special_tokens_to_add()
    stats = {"rows": table.num_rows,
             "source_tokens": length_stats(sources, cfg.max_source_length),
             "target_tokens": length_stats(targets, cfg.max_target_length)}
    ids_type = pa.list_(pa.int32())
    encoded = pa.table({"id": table.column("id"),
                        "input_ids": pa.array([truncate(ids, cfg.max_source_length, closing) for ids in sources], ids_type),
                        "labels": pa.array([truncate(ids, cfg.max_target_length, closing) for ids in targets], ids_type)})
    return encoded, stats


def truncate(ids: list[int], max_length: int, closing: int) -> list[int]:
    """Cut to max_length, keeping the closing special tokens (T5's </s>) as the tokenizer's own
    truncation does; done here so the statistics can see the untruncated lengths."""
    if len(ids) <= max_length:
        return ids
    kept = max(max_length - closing, 0)
    return ids[:kept] + ids[len(ids) - (max_length - kept):]


def length_stats(sequences: list[list[int]], max_length: int) -> dict:
    lengths = np.array([len(ids) for ids in sequences])
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"mean": round(float(lengths.mean()), 2), "p50": round(float(p50), 2), "p90": round(float(p90), 2), "p99": round(float(p99), 2),
            "max": int(lengths.max()), "truncated": round(float((lengths > max_length).mean()), 4)}

