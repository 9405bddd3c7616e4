"""Summarize documents with the pipeline's shareable model, as the evaluate stage does.

    summarize article.txt other.txt                 # a document a .txt file; a summary a line on stdout
    summarize news.jsonl --column text -o out.jsonl # a document a row of .jsonl/.csv/.parquet; id and summary
    summarize < article.txt                         # standard input (or `-`) is one document

The model is models/shareable (the export stage's output) or --model DIR, e.g. a directory that
`dvc artifacts get <repository> summarizer` fetched. The prefix, truncation length, batch size and
generation settings are read from the model directory, and the documents go through the code the
pipeline runs (preprocess's tokenization, evaluate's length-sorted batches), so the summaries are
evaluate's.
"""

import argparse
import os
import signal
import sys
from pathlib import Path

import yaml

from summarization import modeling, sharing, sources
from summarization.cli import run_command
from summarization.config import SHAREABLE_DIR
from summarization.data import encode_documents
from summarization.errors import UserError
from summarization.generation import generate_summaries
from summarization.outputs import atomic_file, write_jsonl

STDIN = "-"
OUTPUT_TYPES = (".jsonl", ".txt")


def read_documents(paths: list[str], column: str) -> tuple[list[str], list[str]]:
    """Ids and texts: a .txt file or standard input is one document (its id the path, or -), a table's
    rows are documents."""
    ids, documents = [], []
    for name in paths:
        path = Path(name)
        if name == STDIN:
            ids.append(STDIN)
            documents.append(decoded(sys.stdin.buffer.read(), "standard input"))
        elif not path.is_file():
            raise UserError(f"{path} is a directory: give the files in it" if path.is_dir() else f"no such file {path}")
        elif path.suffix.lower() == ".txt":
            ids.append(name)
            documents.append(decoded(path.read_bytes(), str(path)))
        elif path.suffix.lower() in sources.READERS:
            table_ids, table_documents = read_table(path, column)
            ids += table_ids
            documents += table_documents
        else:
            raise UserError(
                f"{path}: unsupported file type {path.suffix or '(none)'}; use .txt, {', '.join(sources.READERS)}"
            )
    if not any(document.strip() for document in documents):
        raise UserError("no document to summarize: the input is empty")
    return ids, documents


def decoded(data: bytes, name: str) -> str:
    """UTF-8 text with its line ends made \\n, as Python's text streams read it (whose decoding errors count
    offsets from their last buffer, not the start)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{name}: not UTF-8 text (bad byte at offset {error.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_table(path: Path, column: str) -> tuple[list[str], list[str]]:
    """A document a row; ids from the table's id column, else path:row."""

    def documents_and_ids(names: list[str]) -> list[str]:
        if column not in names:
            raise UserError(
                f"{path} has no column {column!r} (it has {', '.join(names)}): name the documents' column with --column"
            )
        return [column] + ["id"] * ("id" in names)

    ids, documents = [], []
    for batch in sources.read_file(path, "input", documents_and_ids):
        documents += sources.text(batch, column, "--column", str(path)).to_pylist()
        ids += (
            sources.text(batch, "id", "--column", str(path)).to_pylist()
            if "id" in batch.schema.names
            else [f"{path}:{row}" for row in range(len(ids), len(ids) + batch.num_rows)]
        )
    return ids, documents


def write_summaries(output: str | None, ids: list[str], summaries: list[str]) -> None:
    """One summary a line on stdout or in a .txt file (line breaks inside a summary become spaces), or
    id and summary a line in a .jsonl file."""
    lines = [" ".join(summary.splitlines()) for summary in summaries]
    if output is None:
        print("\n".join(lines))
    elif output.endswith(".jsonl"):
        write_jsonl(
            Path(output), [{"id": id_, "summary": summary} for id_, summary in zip(ids, summaries, strict=True)]
        )
    else:
        with atomic_file(Path(output)) as staging:
            staging.write_text("".join(f"{line}\n" for line in lines))


def summarize() -> None:
    parser = argparse.ArgumentParser(prog="summarize", description=__doc__.splitlines()[0])
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="a .txt file (one document), a .jsonl/.json/.csv/.parquet file (a document a row), "
        "or - for standard input (the default)",
    )
    parser.add_argument("--model", type=Path, default=SHAREABLE_DIR, help=f"model directory (default: {SHAREABLE_DIR})")
    parser.add_argument("--column", default="document", help="the documents' column in a table (default: document)")
    parser.add_argument("-o", "--output", help="write to a .jsonl (id and summary) or .txt file instead of stdout")
    args = parser.parse_args()
    inputs = args.inputs or [STDIN]
    if inputs == [STDIN] and sys.stdin.isatty():
        raise UserError("no input: give files to summarize, or pipe a document into standard input")
    if args.output and not args.output.endswith(OUTPUT_TYPES):
        raise UserError(f"--output {args.output}: use a file ending in {' or '.join(OUTPUT_TYPES)}")
    if (
        args.output
        and Path(args.output).exists()
        and any(name != STDIN and Path(name).exists() and Path(name).samefile(args.output) for name in inputs)
    ):
        raise UserError(
            f"--output {args.output} is also an input: the summaries would replace its documents; "
            "write them to another file"
        )
    ids, documents = read_documents(inputs, args.column)
    tokenizer, model = modeling.load_trained(args.model, missing_model_hint(args.model))
    settings = sharing.task_settings(model.config, args.model)
    input_ids = encode_documents(tokenizer, documents, settings.prefix, tokenizer.model_max_length)
    generation = model.generation_config
    summaries, _ = generate_summaries(
        model, tokenizer, input_ids, settings.batch_size, generation.max_length, generation.num_beams
    )
    write_summaries(args.output, ids, summaries)


def missing_model_hint(directory: Path) -> str:
    """Where the model comes from: in a clone of a run committed with its dvc.lock (a colleague's), DVC's remote,
    not a rerun of the whole pipeline (`dvc repro --pull --allow-missing` pulls nothing when no stage needs to
    run); elsewhere, a run here or a model fetched from a registry."""
    try:
        locked = yaml.safe_load(Path("dvc.lock").read_text())["stages"]["export"]["outs"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        locked = []
    if directory == SHAREABLE_DIR and any(Path(out.get("path", "")) == SHAREABLE_DIR for out in locked):
        return f"run `dvc pull {SHAREABLE_DIR}` to fetch the committed one from the DVC remote, or pass --model DIR"
    return "run dvc repro here, or pass --model DIR (e.g. a model fetched with dvc artifacts get)"


def main() -> None:
    """The `summarize` console script."""
    try:
        run_command(summarize)
        sys.stdout.flush()  # here, not at exit, where a pipe's reader gone is reported as an ignored exception
    except BrokenPipeError:  # the reader went away (`summarize big.jsonl | head -1`): end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else Python reports it again flushing at exit
        sys.exit(128 + signal.SIGPIPE)


if __name__ == "__main__":
    main()
