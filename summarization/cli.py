"""How a stage talks to its user: one-line errors (a missing or damaged pipeline file named with the commands
that bring it back), progress bars only on a terminal, a summary line."""

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from tqdm.auto import tqdm

OUT_OF_MEMORY = ("can't allocate memory", "out of memory")  # torch's CPU allocator's words, and CUDA's


class UserError(Exception):
    """A problem the user fixes in params.yaml or an input file; reported as one line, no traceback."""


def run_stage(stage: Callable[[], None]) -> None:
    """Run a stage's main function; a UserError, or memory running out, exits 1 with one line on stderr."""
    if not on_terminal():
        silence_library_progress_bars()
    try:
        stage()
    except UserError as error:
        sys.exit(f"error: {error}")
    except (MemoryError, RuntimeError) as error:  # torch reports a failed allocation, on CPU or GPU, as a RuntimeError
        if not isinstance(error, MemoryError) and not any(words in str(error) for words in OUT_OF_MEMORY):
            raise
        sys.exit(
            f"error: out of memory ({first_line(error)}): lower the sizes in params.yaml (model.embedded widths, "
            "batch sizes, lengths, num_beams, train.lora.r)"
        )


def existing(path: Path) -> Path:
    """A file or directory that an earlier stage writes; missing, it is a UserError saying so."""
    if not path.exists():
        raise UserError(f"{path} is missing: run the stage that writes it (dvc repro)")
    return path


@contextmanager
def reading(path: Path | str) -> Iterator[None]:
    """Read a file an earlier stage wrote (`path`, or where it was read from): one that does not parse (cut short
    by a kill or a full disk, or holding a merge's conflict markers) is a UserError naming it and how to bring it
    back."""
    try:
        yield
    except Exception as error:  # parsers report damage with their own types: pyarrow's, json's, safetensors'...
        if isinstance(error, (UserError, MemoryError)):
            raise
        raise UserError(
            f"{path} is damaged ({type(error).__name__}: {first_line(error)}){restore_hint(path)}"
        ) from None


def restore_hint(path: Path | str) -> str:
    """': run <the commands that bring back a pipeline output>': git or DVC's checkout of the committed one, or a
    rerun of the stage dvc.yaml says writes it; nothing for a path outside the pipeline."""
    try:
        stages = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):  # run outside the project: a model directory elsewhere
        return ""
    for name, stage in stages.items():
        for out in [*stage.get("outs", []), *stage.get("metrics", [])]:
            declared, options = next(iter(out.items())) if isinstance(out, dict) else (out, {})
            if Path(declared) == Path(path) or Path(declared) in Path(path).parents:
                checkout = "git checkout" if options.get("cache") is False else "dvc checkout"
                return f": run `{checkout} {declared}` or `dvc repro -f -s {name}`"
    return ""


def first_line(error: Exception) -> str:
    """A library's error in one line: its first, or all of them when the first only introduces the rest
    (transformers' "Couldn't instantiate the backend tokenizer from one of:" and its list)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return " ".join(lines) if lines[0].endswith(":") else lines[0]


def on_terminal() -> bool:
    return sys.stderr.isatty()


def silence_library_progress_bars() -> None:
    """transformers and the Hub draw bars of their own (loading and writing weights, downloads), which
    off a terminal only flood logs with carriage returns."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging

    disable_progress_bars()
    logging.disable_progress_bar()  # transformers keeps its own switch, read from the Hub's when it was imported
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # datasets is imported later, where a source needs it


def progress(iterable: Iterable, description: str, total: int | None = None) -> Iterable:
    """A progress bar on a terminal, silence in logs and CI."""
    return tqdm(iterable, desc=description, total=total, disable=not on_terminal(), leave=False)


def report(stage: str, message: str) -> None:
    """The one line a stage prints about what it wrote."""
    print(f"{stage}: {message}", flush=True)


def warn(stage: str, message: str) -> None:
    """A line about a result to look at twice, from a stage that went on."""
    print(f"{stage}: warning: {message}", file=sys.stderr, flush=True)
