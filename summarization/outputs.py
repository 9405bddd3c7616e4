"""Atomic, durable writes: every output appears whole or not at all, a failed run leaves the old one intact, and
once a stage has said it wrote an output, a power loss does not take it back (each file and each rename is synced
to the disk before the stage goes on)."""

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path

from safetensors import SafetensorError

from summarization.errors import UserError, first_line

# Where torch.save's zip writer raises from; its messages do not say why a write failed ("unexpected pos 585728
# vs 585620", "file write failed")
TORCH_WRITER = "inline_container"


@contextmanager
def reported_as_user_error(path: Path | str, afterwards: str = "") -> Iterator[None]:
    """A full disk or a read-only directory is the user's to fix: say which output could not be written, and what
    is left (`afterwards`; by default, the previous output)."""
    afterwards = afterwards or f"the previous {path} is intact"
    try:
        yield
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}; {afterwards}") from None
    except (SafetensorError, RuntimeError) as error:  # safetensors' and torch.save's failed writes are not OSErrors
        if isinstance(error, RuntimeError) and TORCH_WRITER not in str(error):
            raise
        raise UserError(f"cannot write {path} (is the disk full?): {first_line(error)}; {afterwards}") from None


@contextmanager
def created_parents(path: Path) -> Iterator[None]:
    """Make the missing directories above `path`; if the block fails, remove them again, so that a stage
    that fails while streaming its output leaves nothing behind."""
    missing = [parent for parent in path.parents if not parent.exists()]  # innermost first
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        with suppress(OSError):  # another process wrote there meanwhile: keep its files
            for parent in missing:
                parent.rmdir()
        raise


def staging_prefix(path: Path) -> str:
    """Temporary files and directories beside `path` are named by this process: a killed one's can be told apart."""
    return f".{path.name}.{os.getpid()}."


def remove_abandoned(path: Path) -> None:
    """Remove what runs killed before their rename left beside `path` (kill -9 runs no cleanup; queued experiments
    would copy it): the temporary files of processes no longer alive."""
    for left in path.parent.glob(f".{path.name}.*"):
        pid = left.name.removeprefix(f".{path.name}.").split(".")[0]
        if not pid.isdigit() or alive(int(pid)):
            continue
        if left.is_dir():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield an empty directory beside `path`; on success it replaces `path` in one rename. An output linked to a
    folder elsewhere (a bigger disk) is replaced there, and the link kept: renamed away, it would pile up."""
    path = path.resolve() if path.is_symlink() else path
    with reported_as_user_error(path), created_parents(path):
        remove_abandoned(path)
        staging = Path(tempfile.mkdtemp(prefix=staging_prefix(path), dir=path.parent))
        try:
            yield staging
            staging.chmod(0o755)  # mkdtemp makes it private; outputs are shared through DVC caches
            synced_tree(staging)
            retired = staging.with_name(staging.name + ".old")
            if path.exists():
                os.replace(path, retired)
            os.replace(staging, path)
            synced(path.parent)
            shutil.rmtree(retired, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


# The renames that together() holds back: (written temporary file, the output it replaces)
HELD_RENAMES: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("held_renames", default=None)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename (inside together(), when
    every file of the block is written)."""
    with reported_as_user_error(path), created_parents(path):
        remove_abandoned(path)
        descriptor, name = tempfile.mkstemp(prefix=staging_prefix(path), dir=path.parent)
        os.close(descriptor)
        staging = Path(name)
        held = HELD_RENAMES.get()
        try:
            yield staging
            staging.chmod(0o644)
            synced(staging)
            if held is None:
                os.replace(staging, path)
                synced(path.parent)
            else:
                held.append((staging, path))
        finally:
            if held is None or (staging, path) not in held:
                staging.unlink(missing_ok=True)


@contextmanager
def together() -> Iterator[None]:
    """Outputs that are read together (predictions and their metrics) all replaced or none: the files written in
    the block are renamed into place only once the last one is written, so a failed write leaves the old set."""
    held = []
    token = HELD_RENAMES.set(held)
    try:
        yield
        for staging, path in held:
            with reported_as_user_error(path, "the outputs renamed before it are new: run the stage again"):
                os.replace(staging, path)
        for directory in dict.fromkeys(path.parent for _, path in held):
            with reported_as_user_error(directory, "run the stage again"):
                synced(directory)
    finally:
        HELD_RENAMES.reset(token)
        for staging, _ in held:
            staging.unlink(missing_ok=True)


def synced(path: Path) -> None:
    """fsync a file's bytes, or a directory's entries (the renames into it), to the disk: a rename alone may reach
    the disk before the renamed file's bytes, so that after a power loss the output is there but empty."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def synced_tree(directory: Path) -> None:
    """fsync every file and directory under `directory`, and itself."""
    for parent, _, files in os.walk(directory, topdown=False):
        for name in files:
            synced(Path(parent, name))
        synced(Path(parent))


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as staging:
        staging.write_text(text)


def write_json(path: Path, data: dict) -> None:
    with atomic_file(path) as staging:
        staging.write_text(json.dumps(data, indent=2) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_file(path) as staging, staging.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(path: Path, rows: list[dict]) -> None:
    with atomic_file(path) as staging, staging.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
