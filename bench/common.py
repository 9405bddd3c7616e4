"""What the benches share: the checkpoint they default to, XSum's size, the corpus of XSum-length rows that the
training and evaluation tables time, how peak memory is read, how a table's setups run in fresh processes, and the
run of one or several tables (run_tables) that bench.train_speed, bench.memory, bench.evaluation and
bench.throughput (all three) are."""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import torch
from transformers import set_seed

from summarization import corpus, environment, modeling, tokenizing
from summarization.config import Evaluate, Model, Preprocess, Train, load_params
from summarization.markup import markdown_table

FIXTURE_CHECKPOINT = Path("../shared/fixtures/t5-small-tokenizer")  # a t5-small tokenizer and config, no weights
# Absolute: bench.data_stages runs the stages in a copy of the project, from another directory.
DEFAULT_CHECKPOINT = str(FIXTURE_CHECKPOINT.resolve()) if FIXTURE_CHECKPOINT.is_dir() else "t5-small"
XSUM_ROWS = {"train": 204_045, "validation": 11_332, "test": 11_334}
# Token lengths of XSum in t5-small's tokenizer: documents log-normal with mean ≈ 530 and one in ten
# beyond 1,024 (so a random batch of 16 is usually padded to the 1,024 cap), one-sentence summaries ≈ 28.
DOCUMENT_MEDIAN, DOCUMENT_SIGMA = 400, 0.75
SUMMARY_MEDIAN, SUMMARY_SIGMA = 27, 0.3
RECIPE_BATCH_SIZE = 16
# Forkserver children (in_fresh_process) run the bench's module again as __mp_main__ after the server imported it.
warnings.filterwarnings("ignore", message=r"'bench\.\w+' found in sys.modules", category=RuntimeWarning)


def command_line(doc: str) -> argparse.ArgumentParser:
    """A bench's options: its docstring's first paragraph, and the checkpoint whose tokenizer and config it uses."""
    options = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    options.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help="a directory or Hub id with a tokenizer and a config (default: %(default)s)",
    )
    return options


def peak_rss_mib() -> int:
    """This process's peak resident memory so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_memory() -> dict:
    """The peak a run is judged by, and what it is of: CUDA's allocations on a GPU, the process's RSS on a CPU."""
    if torch.cuda.is_available():
        return {"peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20), "peak_memory_of": "CUDA allocated"}
    return {"peak_memory_mib": peak_rss_mib(), "peak_memory_of": "process RSS"}


def save(report: dict, path: Path) -> None:
    """The report so far: a run cut short keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def measured(name: str, command: list[str], cwd: Path, log: Path, env: dict | None = None) -> dict:
    """Run a command in a fresh process: its wall time, peak RSS, and the phases it reports as the last
    line of its output when that is a JSON object."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{name} failed:\n{log.read_text()[-3000:]}")
    last_line = (log.read_text().strip().splitlines() or [""])[-1]
    phases = json.loads(last_line) if last_line.startswith("{") else {}
    return {"path": name, "wall_seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024), **phases}


def in_python(function, *args: str) -> list[str]:
    """A command running a bench module's function in a fresh interpreter."""
    module = sys.modules[function.__module__].__spec__.name  # bench.data_stages, not __main__, when run with -m
    return [
        sys.executable,
        "-c",
        f"import sys; from {module} import {function.__name__}; {function.__name__}(*sys.argv[1:])",
        *args,
    ]


@dataclass(frozen=True)
class Corpus:
    """An epoch of rows, kept as lengths and offsets into a token stream until rows are needed."""

    stream: np.ndarray
    prefix: list[int]
    eos: int
    source_lengths: np.ndarray
    target_lengths: np.ndarray
    starts: np.ndarray

    def rows(self, indices: list[int]) -> pa.Table:
        def ids(head: list[int], lengths: np.ndarray) -> pa.Array:
            return pa.array(
                [
                    head + self.stream[start : start + length - len(head) - 1].tolist() + [self.eos]
                    for start, length in zip(self.starts[indices], lengths[indices], strict=True)
                ],
                pa.list_(pa.int32()),
            )

        return pa.table(
            {
                "id": [str(row) for row in indices],
                "input_ids": ids(self.prefix, self.source_lengths),
                "labels": ids([], self.target_lengths),
            }
        )


@dataclass(frozen=True)
class Run:
    data_dir: Path
    model: Model
    preprocess: Preprocess
    train: Train
    evaluate: Evaluate


def make_corpus(run: Run, rows: int, seed: int) -> Corpus:
    """Windows of real text (the embedded corpus's stories, tokenized), prefixed and truncated as preprocess
    does, with lengths drawn from XSum's distributions."""
    tokenizer = tokenizing.load_tokenizer(run.model)
    stories = [corpus.story(random.Random(seed * 100_000 + n))[0] for n in range(400)]
    stream = np.array(tokenizer(" ".join(stories), add_special_tokens=False, verbose=False)["input_ids"], np.int32)
    prefix = tokenizer(run.preprocess.prefix, add_special_tokens=False)["input_ids"]
    rng = np.random.default_rng(seed)

    def lengths(median: float, sigma: float, head: int, max_length: int) -> np.ndarray:
        return np.minimum(head + rng.lognormal(np.log(median), sigma, rows).round().astype(int) + 1, max_length)

    return Corpus(
        stream,
        prefix,
        tokenizer.eos_token_id,
        lengths(DOCUMENT_MEDIAN, DOCUMENT_SIGMA, len(prefix), run.preprocess.max_source_length),
        lengths(SUMMARY_MEDIAN, SUMMARY_SIGMA, 0, run.preprocess.max_target_length),
        rng.integers(0, len(stream) - run.preprocess.max_source_length, rows),
    )


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[start : start + size] for start in range(0, len(order), size)]


def timed(batches: list[list[int]], count: int, lengths: np.ndarray) -> list[list[int]]:
    """`count` batches at evenly spaced quantiles of padded length (all when count is 0): a few batches whose
    mean cost is the epoch's."""
    if count == 0 or count >= len(batches):
        return batches
    by_cost = sorted(batches, key=lambda batch: (int(lengths[batch].max()), len(batch)))
    return [by_cost[(2 * k + 1) * len(by_cost) // (2 * count)] for k in range(count)]


def flatten(batches: list[list[int]]) -> list[int]:
    return [row for batch in batches for row in batch]


def fresh_model(run: Run, attention: str):
    tokenizer = tokenizing.load_tokenizer(run.model)
    set_seed(run.train.seed)
    model = modeling.load_model(run.model, tokenizer, attention)
    return tokenizer, model


def synchronized_clock() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def in_fresh_process(function, *args) -> dict:
    """Run in a new process forked from a server that imported the function's module once (imports take seconds)."""
    context = get_context("forkserver")
    context.set_forkserver_preload([function.__module__])  # a no-op once the server runs
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def cumulative(recipe, ours, steps: list[tuple[str, tuple[str, ...]]]) -> list:
    """The recipe, then for each step that changes anything a row taking that step's fields from ours."""
    rows = [recipe]
    for name, fields in steps:
        row = replace(rows[-1], name=name, **{field: getattr(ours, field) for field in fields})
        if replace(row, name="") != replace(rows[-1], name=""):
            rows.append(row)
    return rows


def with_ratios(results: list[dict], epoch_rows: int) -> list[dict]:
    baseline = results[0]["samples_per_second"]
    return [
        result
        | {
            "speedup": round(result["samples_per_second"] / baseline, 2),
            "epoch_seconds": round(epoch_rows / result["samples_per_second"]),
        }
        for result in results
    ]


def markdown(title: str, results: list[dict], columns: dict[str, str]) -> str:
    return markdown_table(
        [title, *columns.values()], [[result["setup"]["name"], *(result[key] for key in columns)] for result in results]
    )


def run_tables(doc: str, tables: list[ModuleType], output: str) -> None:
    """Measure the tables of these modules (`--tables` chooses among several) on params.yaml's settings with the
    checkpoint's config and fresh weights, save the report after each row, and print the tables. A table module has
    NAME (its key in the report), OPTIONS (argparse's arguments, shared ones once), measure(report, run, options)
    and layout(options): its title, the rows of its epoch (for epoch seconds) and its columns."""
    parser = command_line(doc)
    added = set()
    for table in tables:
        for flags, settings in table.OPTIONS:
            if flags not in added:
                parser.add_argument(*flags, **settings)
                added.add(flags)
    names = [table.NAME for table in tables]
    if len(tables) > 1:
        parser.add_argument(
            "--tables", nargs="+", choices=names, default=names, help="tables to measure (default: all)"
        )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("bench/results") / f"{output}{modeling.device().type}.json")
    options = parser.parse_args()
    chosen = [table for table in tables if table.NAME in getattr(options, "tables", names)]
    params = load_params()
    model_cfg = params.model.model_copy(update={"checkpoint": options.checkpoint, "from_scratch": True})
    report = {
        "machine": environment.describe(modeling.resolve_precision(params.train.precision), 1),
        "checkpoint": options.checkpoint,
        "options": {k: str(v) for k, v in vars(options).items()},
    } | {table.NAME: [] for table in chosen}
    with tempfile.TemporaryDirectory() as data_dir:
        run = Run(Path(data_dir), model_cfg, params.preprocess, params.train, params.evaluate)
        for table in chosen:
            table.measure(report, run, options)
    for table in chosen:
        report[table.NAME] = with_ratios(report[table.NAME], table.layout(options)[1])
    save(report, options.output)
    print(
        f"{report['machine']['device']}, {options.checkpoint} with fresh weights; training batch {RECIPE_BATCH_SIZE}, "
        f"generation of {params.evaluate.generation_max_length} tokens a row\n"
    )
    for table in chosen:
        title, _, columns = table.layout(options)
        print(markdown(title, report[table.NAME], columns) + "\n")
    print(f"wrote {options.output}")
