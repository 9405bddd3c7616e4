"""How a stage or a command talks to its user: an error as one line on stderr and exit status 1 (errors.py),
progress bars only on a terminal, a summary line."""

import atexit
import os
import sys
from collections.abc import Callable, Iterable

from tqdm.auto import tqdm

from summarization.errors import UserError, first_line
from summarization.lockfile import lock_warning

OUT_OF_MEMORY = ("can't allocate memory", "out of memory")  # torch's CPU allocator's words, and CUDA's


def run_command(main: Callable[[], None]) -> None:
    """Run a stage's or a command's main function; a UserError, or memory running out, exits 1 with one line on
    stderr."""
    if not on_terminal():
        silence_library_progress_bars()
    try:
        main()
    except UserError as error:
        quiet_exit()
        sys.exit(f"error: {error}")
    except (MemoryError, RuntimeError) as error:  # torch reports a failed allocation, on CPU or GPU, as a RuntimeError
        if not isinstance(error, MemoryError) and not any(words in str(error) for words in OUT_OF_MEMORY):
            raise
        quiet_exit()
        sys.exit(
            f"error: out of memory ({first_line(error)}): lower the sizes in params.yaml (model.embedded widths, "
            "batch sizes, lengths, num_beams, train.lora.r)"
        )


def run_stage(main: Callable[[], None]) -> None:
    """run_command for a pipeline stage (its function is named after it), which first says in one line when the
    installed packages are not the lock's: outputs made with them may differ from the committed ones."""
    if message := lock_warning():
        warn(main.__name__, message)
    run_command(main)


def quiet_exit() -> None:
    """After the error line, nothing more on stderr: objects still open as the interpreter tears its modules down
    (dulwich's packs, which dvclive's git repository opens) fail in their __del__, and Python prints each ignored
    exception. Silenced from the exit handlers on, which run after this stage (or a test calling it) is done."""
    atexit.register(setattr, sys, "unraisablehook", lambda unraisable: None)


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
