"""Errors a user fixes, told in one line: the UserError that stages and commands exit with, a missing or
damaged pipeline file named with the commands that bring it back, and a library's error in one line."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml


class UserError(Exception):
    """A problem the user fixes in params.yaml or an input file; reported as one line, no traceback."""


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
