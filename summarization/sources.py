"""Where the raw splits come from (the embedded corpus, the Hugging Face Hub, local files) and the
checks that turn any of them into clean record batches with XSum's columns: id, document, summary.
Splits are streamed: files are parsed a block at a time, so memory does not grow with their size."""

import json
import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from summarization import corpus
from summarization.config import FILES_DIR, SPLITS, Columns, Fetch, HubDataset
from summarization.data import RAW_SCHEMA, parquet_batches
from summarization.errors import UserError, first_line

ColumnChooser = Callable[[list[str]], list[str]]  # a file's column names -> the ones to read, or a UserError
READ_BLOCK_BYTES = 2 << 20  # pyarrow parses text in blocks this big on all cores; memory grows with it, a row must fit
# pyarrow's "straddling object" error: some rows over a block fit in two, longer ones never
TOO_LONG = (
    f"longer than the reader takes (rows up to {READ_BLOCK_BYTES >> 20} MiB always fit; a .parquet file has no such "
    "limit)"
)
BATCH_ROWS = 10_000  # rows per batch read from parquet files and tables


def load_splits(cfg: Fetch) -> dict[str, Iterator[pa.RecordBatch]]:
    """Every split as a stream of clean batches of id, document and summary, capped by max_<split>_samples.
    Missing or unsupported files are reported before any split is read."""
    if cfg.source == "files":
        origins = {split: getattr(cfg.files, split) for split in SPLITS}
        batches = {
            split: read_file(
                Path(path), f"fetch.files.{split}", partial(used_columns, columns=cfg.columns, origin=path)
            )
            for split, path in origins.items()
        }
    else:
        if cfg.source == "embedded":
            tables, origins = corpus.generate(cfg.embedded), dict.fromkeys(SPLITS, "fetch.embedded")
        else:
            tables, origins = load_hub(cfg.hub), {split: f"{cfg.hub.path} ({split})" for split in SPLITS}
        batches = {
            split: table.select(used_columns(table.column_names, cfg.columns, origins[split])).to_batches(BATCH_ROWS)
            for split, table in tables.items()
        }
    return {
        split: clean(batches[split], cfg.columns, split, origins[split], cfg.max_samples(split)) for split in SPLITS
    }


def load_hub(hub: HubDataset) -> dict[str, pa.Table]:
    """The splits of a Hub dataset at a pinned revision (a local dataset directory works the same way), as
    tables memory-mapped from datasets' cache."""
    import datasets  # slow to import; only this source needs it

    try:
        dataset = datasets.load_dataset(hub.path, revision=hub.revision)
    except Exception as error:  # the Hub reports offline, missing and gated repos with many types
        raise UserError(
            f"fetch.hub: cannot load {hub.path} at revision {hub.revision} ({type(error).__name__}: "
            f"{first_line(error)}); if the Hub is unreachable, "
            "download the splits elsewhere and set fetch.source: files with fetch.files.train/validation/test"
        ) from None
    missing = [split for split in SPLITS if split not in dataset]
    if missing:
        raise UserError(f"fetch.hub.path: {hub.path} has no split {missing[0]!r} (has {', '.join(dataset)})")
    return {split: dataset[split].data.table for split in SPLITS}


def read_file(path: Path, param: str, choose: ColumnChooser) -> Iterator[pa.RecordBatch]:
    """The chosen columns of a .jsonl, .json (one object a line), .csv or .parquet file, checked to
    exist now and read when iterated."""
    if not path.is_file():
        raise UserError(
            f"{param}: {path} is a directory, not a file" if path.is_dir() else f"{param}: no such file {path}"
        )
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise UserError(f"{param}: unsupported file type {suffix or '(none)'} for {path}; use {', '.join(READERS)}")

    def unambiguous(names: list[str]) -> list[str]:  # readers would silently take the first of two same-named columns
        chosen = choose(names)
        for name in chosen:
            if names.count(name) > 1:
                raise UserError(
                    f"{path}: {names.count(name)} columns are named {name!r}, so which one to read is "
                    "ambiguous: rename the others"
                )
        return chosen

    return READERS[suffix](path, unambiguous)


def read_jsonl(path: Path, choose: ColumnChooser) -> Iterator[pa.RecordBatch]:
    read = pajson.ReadOptions(block_size=READ_BLOCK_BYTES)
    try:
        first_block = pajson.open_json(path, read_options=read).schema
        # pyarrow fixes the types by the first block: a column null there may hold text later, and other
        # fields may come and go further on.
        fields = [first_block.field(name) for name in choose(first_block.names)]
        schema = pa.schema([field.with_type(pa.string()) if field.type == pa.null() else field for field in fields])
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        for batch in pajson.open_json(path, read_options=read, parse_options=parse):
            batch.validate(full=True)  # pyarrow.json passes invalid UTF-8 through into strings
            yield batch
    except pa.ArrowInvalid as error:
        raise UserError(jsonl_problem(path) or f"{path}: {first_line(error)}") from None


def jsonl_problem(path: Path) -> str | None:
    """The first bad line of a jsonl file, named by its number or byte offset, which pyarrow's errors lack."""
    offset = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if len(line) > READ_BLOCK_BYTES:
                return f"{path}:{number}: a row of {len(line) / 2**20:.1f} MiB, {TOO_LONG}"
            try:
                text = line.decode("utf-8")
                row = json.loads(text) if text.strip() else {}
            except UnicodeDecodeError as error:
                return f"{path}: not UTF-8 text (bad byte at offset {offset + error.start})"
            except json.JSONDecodeError as error:
                if number == 1 and text.lstrip().startswith("["):  # an array written over many lines
                    return f"{path}: a JSON array, not JSON lines: write one object a line"
                return f"{path}:{number}: not valid JSON ({error.msg})"
            if not isinstance(row, dict):
                return f"{path}:{number}: expected a JSON object, got {type(row).__name__}"
            offset += len(line)
    return None  # every line parses: pyarrow's own message says what is wrong (a column changing type)


def read_csv(path: Path, choose: ColumnChooser) -> Iterator[pa.RecordBatch]:
    read = pacsv.ReadOptions(block_size=READ_BLOCK_BYTES)
    parse = pacsv.ParseOptions(newlines_in_values=True)  # documents hold newlines
    try:
        header = pacsv.open_csv(path, read_options=read, parse_options=parse).schema.names
        names = choose(header)
        # Every column as the file writes it: an id 007 stays 007
        as_written = pacsv.ConvertOptions(include_columns=names, column_types=dict.fromkeys(names, pa.string()))
        yield from pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=as_written)
    except pa.ArrowInvalid as error:
        if "straddling" in str(error):
            raise UserError(f"{path}: a row {TOO_LONG}") from None
        raise UserError(not_utf8(path) or f"{path}: not readable as CSV ({first_line(error)!r})") from None


def not_utf8(path: Path) -> str | None:
    """What pyarrow's CSV reader says of a file in another encoding ("invalid UTF8 data", a raw NUL byte) told as
    such, with the first bad byte's offset."""
    with path.open("rb") as file:
        start = file.read(READ_BLOCK_BYTES)
    if b"\0" in start:  # UTF-16 and UTF-32 put NUL bytes beside ASCII characters
        return f"{path}: not UTF-8 text (NUL bytes: UTF-16 or UTF-32?); save it as UTF-8"
    try:
        start.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.end < len(start):  # a character cut by the block's end is no error
            return f"{path}: not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8"
    return None


def read_parquet(path: Path, choose: ColumnChooser) -> Iterator[pa.RecordBatch]:
    try:
        yield from parquet_batches(path, BATCH_ROWS, choose)
    except pa.ArrowException as error:
        raise UserError(f"{path}: not a readable parquet file ({first_line(error)})") from None


READERS = {".jsonl": read_jsonl, ".json": read_jsonl, ".csv": read_csv, ".parquet": read_parquet}


def used_columns(names: list[str], columns: Columns, origin: str) -> list[str]:
    """The configured columns a source has, the id column being optional."""
    keys = ("document", "summary", "id")
    for number, key in enumerate(keys):
        for other in keys[:number]:
            if getattr(columns, key) == getattr(columns, other):
                raise UserError(
                    f"fetch.columns.{key}: {getattr(columns, key)!r} is fetch.columns.{other} too: "
                    "each names a column of its own"
                )
    for key in ("document", "summary"):
        if (name := getattr(columns, key)) not in names:
            raise UserError(f"fetch.columns.{key}: no column {name!r} in {origin} (it has {', '.join(names)})")
    return [columns.document, columns.summary] + [columns.id] * (columns.id in names)


def clean(
    batches: Iterable[pa.RecordBatch], columns: Columns, split: str, origin: str, max_samples: int | None
) -> Iterator[pa.RecordBatch]:
    """Map the configured columns to id/document/summary, drop rows with an empty document or summary,
    check ids are unique and stop after max_samples rows."""
    read = empty = kept = 0
    seen_ids = set()
    for batch in batches:
        documents, summaries = (
            text(batch, getattr(columns, key), f"fetch.columns.{key}", origin) for key in ("document", "summary")
        )
        if columns.id in batch.schema.names:
            if batch.column(columns.id).null_count:  # a null id would pass as '' (and be reported as a duplicate)
                row = read + pc.index(pc.is_null(batch.column(columns.id)), True).as_py() + 1
                raise UserError(
                    f"{origin}: row {row} of the {split} split has no id (fetch.columns.id: {columns.id}): give every "
                    "row one, or leave the column out for row-number ids"
                )
            ids = text(batch, columns.id, "fetch.columns.id", origin)
        else:  # XSum-like files without ids: the row number is stable across reruns
            ids = pa.array([f"{split}-{row}" for row in range(read, read + batch.num_rows)], pa.string())
        full = pc.and_(nonblank(documents), nonblank(summaries))
        read, empty = read + batch.num_rows, empty + batch.num_rows - full.true_count
        rows = pa.RecordBatch.from_arrays([ids, documents, summaries], schema=RAW_SCHEMA).filter(full)
        if max_samples is not None:
            rows = rows.slice(0, max_samples - kept)
        for id_ in rows.column("id").to_pylist():
            if id_ in seen_ids:
                raise UserError(f"{origin}: duplicate id {id_!r} in the {split} split (fetch.columns.id: {columns.id})")
            seen_ids.add(id_)
        kept += rows.num_rows
        yield rows
        if kept == max_samples:
            break  # the rest of the source is never read
    if empty:
        print(f"fetch: dropped {empty} of {read} {split} rows with an empty document or summary")
    if not kept:
        raise UserError(f"{origin}: the {split} split has no rows with both a document and a summary")


def text(batch: pa.RecordBatch, name: str, param: str, origin: str) -> pa.Array:
    """A column's values as text, a missing value as empty text."""
    try:
        return pc.cast(batch.column(name), pa.string()).fill_null("")
    except pa.ArrowNotImplementedError:
        raise UserError(
            f"{param}: column {name!r} in {origin} holds {batch.schema.field(name).type}, not text"
        ) from None
    except pa.ArrowInvalid as error:  # bytes that are not UTF-8
        raise UserError(f"{param}: column {name!r} in {origin} is not UTF-8 text ({first_line(error)})") from None


def nonblank(texts: pa.Array) -> pa.Array:
    return pc.not_equal(pc.utf8_trim_whitespace(texts), "")


def untracked_files(cfg: Fetch) -> list[str]:
    """The fetch.files outside data/files/, the folder fetch depends on in dvc.yaml: DVC hashes what is in it (an edit
    re-runs fetch, and the run-cache keeps the rows of each content apart), never the files elsewhere."""
    if cfg.source != "files":
        return []
    folder = Path(os.path.abspath(FILES_DIR))
    paths = {split: Path(os.path.abspath(getattr(cfg.files, split))) for split in SPLITS}
    return [f"fetch.files.{split}" for split, path in paths.items() if not path.is_relative_to(folder)]
