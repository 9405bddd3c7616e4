"""What the benches share: the checkpoint they default to, XSum's size, how peak memory is read, and how a
report is saved."""

import argparse
import json
import resource
from pathlib import Path

import torch

FIXTURE_CHECKPOINT = Path("../shared/fixtures/t5-small-tokenizer")  # a t5-small tokenizer and config, no weights
# Absolute: bench.data_stages runs the stages in a copy of the project, from another directory.
DEFAULT_CHECKPOINT = str(FIXTURE_CHECKPOINT.resolve()) if FIXTURE_CHECKPOINT.is_dir() else "t5-small"
XSUM_ROWS = {"train": 204_045, "validation": 11_332, "test": 11_334}


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
