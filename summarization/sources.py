"""Where the raw splits come from (the embedded corpus, the Hugging Face Hub, local files) and the
checks that turn any of them into clean tables with XSum's columns: id, document, summary."""
import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from summarization import corpus
from summarization.cli import UserError
from summarization.config import SPLITS, Columns, Fetch, HubDataset


def load_splits(cfg: Fetch) -> dict[str, pa.Table]:
    """Every split as a clean table of id, document and summary, capped by max_<split>_samples."""
    if cfg.source == "embedded":
        tables, origins = corpus.generate(cfg.embedded), dict.fromkeys(SPLITS, "fetch.embedded")
    elif cfg.source == "hub":
        tables, origins = load_hub(cfg.hub), {split: f"{cfg.hub.path} ({split})" for split in SPLITS}
    else:
        origins = {split: getattr(cfg.files, split) for split in SPLITS}
        tables = {split: read_file(Path(path), f"fetch.files.{split}") for split, path in origins.items()}
    return {split: clean(tables[split], cfg.columns, split, origins[split], cfg.max_samples(split)) for split in SPLITS}


def load_hub(hub: HubDataset) -> dict[str, pa.Table]:
    """The splits of a Hub dataset at a pinned revision (a local dataset directory works the same way)."""
    import datasets  # slow to import; only this source needs it

    try:
        dataset = datasets.load_dataset(hub.path, revision=hub.revision)
    except Exception as error:  # the Hub reports offline, missing and gated repos with many types
        raise UserError(
            f"fetch.hub: cannot load {hub.path} at revision {hub.revision} ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no detail'}); if the Hub is unreachable, "
            "download the splits elsewhere and set fetch.source: files with fetch.files.train/validation/test"
        ) from None
    missing = [split for split in SPLITS if split not in dataset]
    if missing:
        raise UserError(f"fetch.hub.path: {hub.path} has no split {missing[0]!r} (has {', '.join(dataset)})")
    return {split: dataset[split].data.table for split in SPLITS}


def read_file(path: Path, param: str) -> pa.Table:
    """A split from a .jsonl, .json (one object a line), .csv or .parquet file."""
    if not path.is_file():
        raise UserError(f"{param}: no such file {path}")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise UserError(f"{param}: unsupported file type {suffix or '(none)'} for {path}; use {', '.join(READERS)}")
    return READERS[suffix](path)


def read_jsonl(path: Path) -> pa.Table:
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return pa.Table.from_pylist(rows)


def read_csv(path: Path) -> pa.Table:
    rows = list(csv.DictReader(read_text(path).splitlines(keepends=True)))
    return pa.Table.from_pylist(rows)


def read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except pa.ArrowException as error:
        raise UserError(f"{path}: not a readable parquet file ({error})") from None


READERS = {".jsonl": read_jsonl, ".json": read_jsonl, ".csv": read_csv, ".parquet": read_parquet}


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text (bad byte at offset {error.start})") from None


def clean(table: pa.Table, columns: Columns, split: str, origin: str, max_samples: int | None) -> pa.Table:
    """Map the configured columns to id/document/summary, drop rows with an empty document or summary,
    check ids are unique and keep the first max_samples rows."""
    for key in ("document", "summary"):
        name = getattr(columns, key)
        if name not in table.column_names:
            raise UserError(f"fetch.columns.{key}: no column {name!r} in {origin} (it has {', '.join(table.column_names)})")
    documents = [text_or_empty(value) for value in table.column(columns.document).to_pylist()]
    summaries = [text_or_empty(value) for value in table.column(columns.summary).to_pylist()]
    if columns.id in table.column_names:
        ids = [str(value) for value in table.column(columns.id).to_pylist()]
    else:  # XSum-like files without ids: the row number is stable across reruns
        ids = [f"{split}-{row}" for row in range(table.num_rows)]
    keep = [row for row in range(table.num_rows) if documents[row].strip() and summaries[row].strip()]
    if dropped := table.num_rows - len(keep):
        print(f"fetch: dropped {dropped} of {table.num_rows} {split} rows with an empty document or summary")
    if not keep:
        raise UserError(f"{origin}: the {split} split has no rows with both a document and a summary")
    keep = keep[:max_samples]
    kept_ids = [ids[row] for row in keep]
    seen = set()
    for id_ in kept_ids:
        if id_ in seen:
            raise UserError(f"{origin}: duplicate id {id_!r} in the {split} split (fetch.columns.id: {columns.id})")
        seen.add(id_)
    return pa.table({"id": kept_ids,
                     "document": [documents[row] for row in keep],
                     "summary": [summaries[row] for row in keep]})


def text_or_empty(value) -> str:
    return "" if value is None else str(value)
