"""The pipeline's data files: raw splits (id, document, summary) and tokenized splits (id, input_ids,
labels), one parquet file per split, written and read a batch at a time. Parquet written in fixed row
groups is byte-identical across reruns, which datasets' cache files and random fingerprints are not.
A tokenized split records the digest of the raw split it was made from and the params it was tokenized with, and
its readers check both."""

import hashlib
import json
import math
import mmap
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

from summarization.cli import progress
from summarization.config import Params, Preprocess
from summarization.errors import UserError, existing, reading
from summarization.outputs import reported_as_user_error

if TYPE_CHECKING:
    import datasets

RAW_SCHEMA = pa.schema([("id", pa.string()), ("document", pa.string()), ("summary", pa.string())])
TOKENIZED_SCHEMA = pa.schema(
    [("id", pa.string()), ("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32()))]
)
# A tokenized split's schema metadata: the sha256 of the raw split file it was made from, and the params that
# made its ids (dvc.yaml's params of the preprocess stage, as JSON)
MADE_FROM, MADE_WITH = b"made_from", b"made_with"
TOKENIZATION_PARAMS = ("preprocess", "model.checkpoint", "model.revision", "model.embedded.vocab_size")
# Parquet row groups of a fixed size: the bytes depend only on the rows, and readers hold one group.
ROW_GROUP_ROWS = 10_000
ENCODE_BATCH = 1000  # rows per tokenizer call: big enough for the Rust tokenizer, small enough for a progress bar
T, R = TypeVar("T"), TypeVar("R")
# Fewer rows than this a process are measured in fewer processes: a process started by spawn (macOS) imports the
# measures' modules and rouge_score first (~0.4 CPU seconds), about as long as scoring 2,000 rows takes
# (bench.scoring); a forked one starts faster, but sending the rows costs too
ROWS_PER_PROCESS = 2000
# Fork on Linux: a worker starts in milliseconds with the caller's modules, where forkserver and spawn import the
# stage's main module (torch, transformers) again in each worker, seconds each (BENCHMARKS.md: a 51,011-row split
# measured slower in 2 such processes than in 1). Safe with the caller's threads (torch's, the tokenizers'): the
# workers run pure-Python measures of their arguments and take no lock those threads may hold. Elsewhere spawn,
# macOS's default (fork is unsafe there).
START_METHOD = "fork" if sys.platform == "linux" else "spawn"


def usable_cores() -> int:
    """The cores this process may use: its affinity mask where the OS has one (Linux), else all of them (macOS)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+, on every OS
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


TOKENIZER_THREADS = usable_cores()


def split_file(directory: Path, split: str) -> Path:
    return directory / f"{split}.parquet"


def existing_split_file(directory: Path, split: str) -> Path:
    return existing(split_file(directory, split))


def read_split(directory: Path, split: str, columns: list[str] | None = None) -> pa.Table:
    path = existing_split_file(directory, split)
    with reading(path):
        return pq.read_table(path, columns=columns)


def file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def provenance(raw: Path, params: Params) -> dict[bytes, str]:
    """What a tokenized split records of its making: the raw split file's digest and the tokenization params."""
    return {MADE_FROM: file_digest(raw), MADE_WITH: json.dumps(tokenization_params(params), sort_keys=True)}


def tokenization_params(params: Params) -> dict:
    """TOKENIZATION_PARAMS by their dotted names, a section's as its own (`preprocess.prefix`, ...)."""
    values = {}
    for name in TOKENIZATION_PARAMS:
        value = params
        for key in name.split("."):
            value = getattr(value, key)
        fields = value.model_dump() if hasattr(value, "model_dump") else {None: value}
        values |= {f"{name}.{field}" if field else name: setting for field, setting in fields.items()}
    return values


def check_made_from(tokenized_dir: Path, raw_dir: Path, split: str, params: Params) -> None:
    """Refuse a tokenized split that was not made from the raw split beside it, or with other params (a stage run
    again by hand since): its ids would be scored against other references, or read as other tokens."""
    tokenized, raw = existing_split_file(tokenized_dir, split), existing_split_file(raw_dir, split)
    with reading(tokenized):
        recorded = pq.read_schema(tokenized).metadata or {}
    rerun = f"run `dvc repro` to bring {tokenized_dir} up to date"
    if recorded.get(MADE_FROM) != file_digest(raw).encode():
        raise UserError(f"{tokenized} was not made from {raw} as it is now: {rerun}")
    made_with = json.loads(recorded.get(MADE_WITH, b"{}"))
    for name, value in tokenization_params(params).items():
        if (there := made_with.get(name)) != value:
            raise UserError(f"{tokenized} was tokenized with other params ({name}: {there!r}, now {value!r}): {rerun}")


def parquet_batches(
    path: Path, rows: int, choose: Callable[[list[str]], list[str]] | None = None
) -> Iterator[pa.RecordBatch]:
    """A parquet file's rows in batches of `rows`, read as iterated; `choose` picks columns from the file's.
    Not pre-buffered: pyarrow's read cache would keep every row group read until the file is done (at 10×
    XSum, 1.6 GB of the train split's compressed text through preprocess)."""
    file = pq.ParquetFile(path, pre_buffer=False)
    return file.iter_batches(rows, columns=choose(file.schema_arrow.names) if choose else None)


def map_tokenized_split(directory: Path, split: str) -> pa.Table:
    """A tokenized split memory-mapped from an uncompressed Arrow copy in an unnamed temporary file beside
    the split (gone with the process): its rows are paged in from disk as they are read, so memory does not
    grow with them as it does with a parquet table read whole."""
    # Reading reports a damaged split, and writing a full disk: the copy's writes are not the split's damage
    batches = read_batches(directory, split, ROW_GROUP_ROWS)  # checks that the split exists
    copy_of = f"a temporary copy of {split_file(directory, split)} in {directory.parent}"
    with reported_as_user_error(copy_of, "nothing was changed"), tempfile.TemporaryFile(dir=directory.parent) as copy:
        with pa.ipc.new_stream(copy, TOKENIZED_SCHEMA) as stream:
            for batch in batches:
                stream.write_batch(batch)
        copy.flush()
        pa.default_memory_pool().release_unused()  # the pool would keep the decoded row groups' memory
        mapped = mmap.mmap(copy.fileno(), 0, access=mmap.ACCESS_READ)
    return pa.ipc.open_stream(mapped).read_all()


def read_dataset(directory: Path, split: str, digest: str | None = None) -> "datasets.Dataset":
    """A tokenized split as the trainer's dataset, memory-mapped (map_tokenized_split); `digest`: its file's
    file_digest, where the caller has it already."""
    import datasets  # slow to import; only training needs it

    table = map_tokenized_split(directory, split)
    # Given a fingerprint, datasets does not pickle every row to make one
    return datasets.Dataset(table, fingerprint=digest or file_digest(existing_split_file(directory, split)))


def read_batches(
    directory: Path, split: str, rows: int = ENCODE_BATCH, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """A split's rows (or these columns of them) in batches, read when iterated; a missing file is reported now."""
    path = existing_split_file(directory, split)

    def batches() -> Iterator[pa.RecordBatch]:
        with reading(path):
            yield from parquet_batches(path, rows, None if columns is None else lambda _: columns)

    return batches()


def write_split(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    directory: Path,
    split: str,
    metadata: dict[bytes, str] | None = None,
) -> int:
    """Write batches of any size as one parquet file (split_writer); the number of rows."""
    rows = 0
    with split_writer(schema, directory, split, metadata) as write:
        for batch in batches:
            write(batch)
            rows += batch.num_rows
    return rows


@contextmanager
def split_writer(
    schema: pa.Schema, directory: Path, split: str, metadata: dict[bytes, str] | None = None
) -> Iterator[Callable[[pa.RecordBatch], None]]:
    """A function that writes batches of any size into one parquet file in row groups of ROW_GROUP_ROWS, with
    `metadata` in its schema; the rows short of a whole group are written as the block ends."""
    pending = schema.empty_table()
    with pq.ParquetWriter(split_file(directory, split), schema.with_metadata(metadata or {})) as writer:

        def write(batch: pa.RecordBatch) -> None:
            nonlocal pending
            pending = pa.concat_tables([pending, pa.Table.from_batches([batch], schema)])
            if whole_groups := pending.num_rows - pending.num_rows % ROW_GROUP_ROWS:
                writer.write_table(pending.slice(0, whole_groups).combine_chunks(), ROW_GROUP_ROWS)
                pending = pending.slice(whole_groups)

        yield write
        if pending.num_rows:
            writer.write_table(pending.combine_chunks(), ROW_GROUP_ROWS)


@dataclass(frozen=True)
class TokenLengths:
    """Token counts of a split's prefixed documents (source) and summaries (target) before truncation."""

    source: np.ndarray
    target: np.ndarray

    def truncation(self, cfg: Preprocess) -> dict:
        """The numbers to compare across runs: rows, and the share of rows that truncation cuts."""
        return {
            "rows": len(self.source),
            "source_truncated": round(float((self.source > cfg.max_source_length).mean()), 4),
            "target_truncated": round(float((self.target > cfg.max_target_length).mean()), 4),
        }

    def percentiles(self) -> dict:
        return {"source_tokens": percentiles(self.source), "target_tokens": percentiles(self.target)}


def percentiles(lengths: np.ndarray) -> dict:
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {
        "mean": round(float(lengths.mean()), 2),
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "max": int(lengths.max()),
    }


def encode_split(
    raw: Iterable[pa.RecordBatch],
    tokenizer: PreTrainedTokenizerBase,
    cfg: Preprocess,
    directory: Path,
    split: str,
    made: dict[bytes, str],
) -> TokenLengths:
    """Tokenize prefixed documents and summaries batch by batch into directory/<split>.parquet, truncated to
    the configured lengths, recording how it was `made` (provenance); the lengths before truncation."""
    # The Rust tokenizer itself: transformers' wrapper would warn that documents exceed the model's length,
    # which is what the truncation below is for.
    encoder = tokenizer.backend_tokenizer
    closing, token_ids = closing_special_tokens(encoder), TokenIds(encoder)

    def encode(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
        sources = token_ids(prefixed(cfg.prefix, batch.column("document").to_pylist()))
        targets = token_ids(batch.column("summary").to_pylist())
        encoded = pa.RecordBatch.from_arrays(
            [
                batch.column("id"),
                truncated_column(sources, cfg.max_source_length, closing),
                truncated_column(targets, cfg.max_target_length, closing),
            ],
            schema=TOKENIZED_SCHEMA,
        )
        return encoded, list_lengths(sources), list_lengths(targets)

    # Each thread tokenizes whole batches: the tokenizer releases the GIL, and without its own thread pool
    # on top it spends no time handing work between threads.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    source_lengths, target_lengths = [], []
    with split_writer(TOKENIZED_SCHEMA, directory, split, made) as write:
        for batch, sources, targets in in_threads(encode, progress(raw, f"tokenize {split}")):
            write(batch)
            source_lengths.append(sources)
            target_lengths.append(targets)
    return TokenLengths(np.concatenate(source_lengths), np.concatenate(target_lengths))


def encode_documents(
    tokenizer: PreTrainedTokenizerBase, documents: list[str], prefix: str, max_length: int
) -> pa.Array:
    """Documents as preprocess writes them: prefixed, tokenized and cut to max_length."""
    encoder = tokenizer.backend_tokenizer
    return truncated_column(TokenIds(encoder)(prefixed(prefix, documents)), max_length, closing_special_tokens(encoder))


def prefixed(prefix: str, documents: list[str]) -> list[str]:
    """What the model reads: the task prefix (T5's "summarize: ") before each document."""
    return [prefix + document for document in documents]


class TokenIds:
    """A tokenizer's ids of texts, with its special tokens, uncut.

    Plain ASCII texts (9 of the 10 XSum documents in ../shared's sample) skip the tokenizer's normalizer where all
    it does to ASCII is map characters one at a time: a byte table maps them, and the same tokenizer without a
    normalizer reads the result. The same ids (tests/test_data.py), ~10% less time in preprocess (BENCHMARKS.md:
    with it, 1.58x the recipe's map at XSum's size). Such normalizers are Unicode's normal forms, which leave ASCII
    as it is, and sentencepiece's charsmap (T5's Precompiled), which maps a grapheme at a time (ASCII's one grapheme
    of two characters is CRLF). A text with a character the normalizer drops or a CRLF it maps as one, and every
    text where an added token holds a character the table maps (a special token's text could appear or vanish),
    take the whole tokenizer."""

    def __init__(self, encoder: Tokenizer):
        self.encoder, self.bare = encoder, None
        serialized = encoder.to_str()  # the whole vocabulary: once
        normalizer = json.loads(serialized)["normalizer"]
        if normalizer is None or normalizer["type"] not in ("Precompiled", "NFC", "NFD", "NFKC", "NFKD"):
            return
        into = {chr(code): encoder.normalizer.normalize_str(chr(code)) for code in range(128)}
        mapped = {char: text for char, text in into.items() if text != char and text}
        added = "".join(token.content for token in encoder.get_added_tokens_decoder().values())
        if any(len(text) > 1 for text in into.values()) or set(added) & {*mapped, *mapped.values()}:
            return
        self.bare = Tokenizer.from_str(serialized)
        self.bare.normalizer = None
        self.table = bytes.maketrans("".join(mapped).encode(), "".join(mapped.values()).encode())
        # Characters the normalizer drops, and CRLF where it maps the pair otherwise than each of the two (T5's: one
        # space), leave a text to the whole tokenizer
        self.dropped = "".join(char for char, text in into.items() if not text).encode()
        self.crlf = encoder.normalizer.normalize_str("\r\n") != into["\r"] + into["\n"]

    def normalized(self, text: str) -> str | None:
        """The text as the normalizer would leave it, where the table does all the normalizer would; else None."""
        if not text.isascii() or (self.crlf and "\r\n" in text):
            return None
        raw = text.encode()
        mapped = raw.translate(self.table, self.dropped)
        return mapped.decode() if len(mapped) == len(raw) else None

    def __call__(self, texts: list[str]) -> list[list[int]]:
        if self.bare is None:
            return [encoding.ids for encoding in self.encoder.encode_batch_fast(texts)]
        normalized = [self.normalized(text) for text in texts]
        plain = [text for text in normalized if text is not None]
        rest = [text for text, table_mapped in zip(texts, normalized, strict=True) if table_mapped is None]
        encodings = iter(self.bare.encode_batch_fast(plain)), iter(self.encoder.encode_batch_fast(rest))
        return [next(encodings[text is None]).ids for text in normalized]


def check_room(tokenizer: PreTrainedTokenizerBase, cfg: Preprocess) -> None:
    """The prefix and the tokens closing a document must leave room for some of it, or every document is cut
    away and the model reads the prefix alone."""
    encoder = tokenizer.backend_tokenizer
    prefix = len(encoder.encode(cfg.prefix, add_special_tokens=False).ids) if cfg.prefix else 0
    if prefix + closing_special_tokens(encoder) >= cfg.max_source_length:
        raise UserError(
            f"preprocess.prefix takes {prefix} tokens, and preprocess.max_source_length ({cfg.max_source_length}) "
            "leaves none for the document: shorten the prefix or raise the length"
        )


def check_targets_kept(lengths: TokenLengths, cfg: Preprocess) -> None:
    """Every train summary cut (max_target_length: 1 leaves only </s>) teaches the model to say nothing."""
    if lengths.truncation(cfg)["target_truncated"] == 1:
        raise UserError(
            f"preprocess.max_target_length ({cfg.max_target_length}) cuts every train summary (the shortest has "
            f"{int(lengths.target.min())} tokens): raise it"
        )


def closing_special_tokens(encoder: Tokenizer) -> int:
    """How many special tokens the tokenizer puts after the text (T5's </s>; BART's </s>, its <s> going first),
    which a cut keeps as the tokenizer's own truncation does."""
    mask = encoder.encode("x").special_tokens_mask
    last_text_token = max(position for position, special in enumerate(mask) if not special)
    return len(mask) - 1 - last_text_token


def in_threads(function: Callable[[T], R], items: Iterable[T], threads: int = TOKENIZER_THREADS) -> Iterator[R]:
    """function(item) for each item, in order, computed on `threads` threads; one item more than threads is
    in flight, so that no thread waits while the caller takes a result."""
    with ThreadPoolExecutor(threads) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def in_processes(function: Callable[..., R], columns: Sequence[Sequence], processes: int) -> list[R]:
    """`function` of each row of `columns` (its arguments, a column each), in row order, the rows dealt out in
    contiguous chunks to up to `processes` processes, none with fewer than ROWS_PER_PROCESS rows; with one, in
    this process, starting none. For pure-Python work, which threads would run one at a time (the GIL)."""
    rows = len(columns[0])
    processes = max(1, min(processes, rows // ROWS_PER_PROCESS))
    if processes == 1:
        return list(map(function, *columns))
    with ProcessPoolExecutor(processes, mp_context=get_context(START_METHOD)) as pool:
        # a few chunks a process, so that one slow chunk waits on none
        return list(pool.map(function, *columns, chunksize=math.ceil(rows / (4 * processes))))


def in_processes_by_batch(
    function: Callable[..., R], columns: Sequence[Sequence], batches: Iterable[Sequence], processes: int
) -> list[R]:
    """in_processes of `columns` (held in memory) and one more column read a batch at a time (column_batches), a
    batch after another, so that memory holds one batch of that column."""
    results, start = [], 0
    for batch in batches:
        results += in_processes(
            function, [*(column[start : start + len(batch)] for column in columns), batch], processes
        )
        start += len(batch)
    return results


def column_batches(directory: Path, split: str, column: str) -> Iterator[list]:
    """A split's column a row group at a time, so that memory does not grow with it (the documents)."""
    for batch in read_batches(directory, split, ROW_GROUP_ROWS, [column]):
        yield batch.column(column).to_pylist()


def documents_of(directory: Path, split: str, ids: list[str], whose: str) -> list[str]:
    """The documents of these ids of a split, in their order, a row group read at a time (memory holds the ones
    asked for); `whose` names where the ids come from, for the error when the split lacks one."""
    wanted, found = set(ids), {}
    for batch in read_batches(directory, split, ROW_GROUP_ROWS, ["id", "document"]):
        for id_, document in zip(batch.column("id").to_pylist(), batch.column("document").to_pylist(), strict=True):
            if id_ in wanted:
                found[id_] = document
    if missing := next((id_ for id_ in ids if id_ not in found), None):
        raise UserError(f"{whose} id {missing!r} is not in {split_file(directory, split)}: run dvc repro")
    return [found[id_] for id_ in ids]


def token_counts(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The number of token ids in each row of an Arrow list column, from its offsets alone (no row is read)."""
    return pc.list_value_length(ids).to_numpy()


def list_lengths(sequences: list[list[int]]) -> np.ndarray:
    """The number of token ids in each of these Python lists (token_counts reads an Arrow column's)."""
    return np.fromiter(map(len, sequences), np.int32, len(sequences))


def truncated_column(sequences: list[list[int]], max_length: int, closing: int) -> pa.Array:
    """The sequences, each cut as `truncate` cuts it, as an Arrow column of the tokenized schema's type."""
    return pa.array([truncate(ids, max_length, closing) for ids in sequences], TOKENIZED_SCHEMA.field("input_ids").type)


def truncate(ids: list[int], max_length: int, closing: int) -> list[int]:
    """Cut to max_length, keeping the closing special tokens as the tokenizer's own truncation does, so that
    `tokenizer(text, truncation=True)` reads the same ids; done here so the statistics see the uncut lengths."""
    if len(ids) <= max_length:
        return ids
    kept = max(max_length - closing, 0)
    return ids[:kept] + ids[len(ids) - (max_length - kept) :]
