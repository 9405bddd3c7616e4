"""Resuming an interrupted training run from its last checkpoint, and only a run of the same params and data.

Checkpoints live in models/checkpoints/, which dvc.yaml does not declare: DVC then neither deletes it
before train runs (as it does with outputs) nor pushes it, and the train stage keeps its run-cache
(DVC gives that up for any `persist: true` output)."""

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from transformers.trainer_pt_utils import safe_globals

from summarization.cli import report, warn
from summarization.config import Params
from summarization.data import file_digest
from summarization.errors import UserError, first_line
from summarization.outputs import reported_as_user_error

FINGERPRINT_FILE = "fingerprint"
FILES_RECORD = "files.json"  # a checkpoint's files, their sizes and digests, written once Trainer has written them all


def fingerprint(params: Params, digests: list[str]) -> str:
    """What makes a checkpoint resumable: the model and train params and the files the run reads (the training
    data and the code), by their digests (data.file_digest: a file streamed, not read whole, and the train stage
    hashes its splits once, for this and for datasets)."""
    return hashlib.sha256(
        json.dumps([params.model.model_dump(), params.train.model_dump(), digests], sort_keys=True).encode()
    ).hexdigest()


HELD: dict[Path, int] = {}  # the directories this process holds locked, open until it ends


def hold(directory: Path) -> None:
    """Keep other train stages off `directory` while this process lives: a second one at once (another terminal,
    `dvc exp run` beside a stage run by hand) would resume the first's live checkpoints as they rotate. The lock
    (flock, Linux and macOS) is on the directory above, which the stage never removes, and goes with the process,
    so a killed run leaves none behind."""
    parent = directory.parent.resolve()
    if parent in HELD:  # the stage run again in this process (tests)
        return
    with reported_as_user_error(directory, f"{directory}/ is left as it was"):
        directory.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(directory.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise UserError(
            f"another train stage is using {directory}/ (it holds a lock on {directory.parent}/): "
            "let it end, or stop it, first"
        ) from None
    HELD[parent] = descriptor


def resume_point(directory: Path, run: str) -> str | None:
    """The last checkpoint of this very run, or None after clearing the directory for a fresh start."""
    stored = directory / FINGERPRINT_FILE
    last = last_complete(directory)
    if last and stored.is_file() and stored.read_text() == run:
        report("train", f"resuming from {last}")
        return last
    if last:
        report("train", f"ignoring {directory}/: its checkpoints come from other params or data; starting fresh")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    stored.write_text(run)
    return None


def record_files(checkpoint: Path) -> None:
    """Write the size and sha256 of each of a checkpoint's files, once they are all written: the mark of a whole
    checkpoint, and what it is checked against before it is resumed."""
    files = {
        path.name: {"bytes": path.stat().st_size, "sha256": file_digest(path)}
        for path in sorted(checkpoint.iterdir())
        if path.is_file() and path.name != FILES_RECORD
    }
    (checkpoint / FILES_RECORD).write_text(json.dumps(files, indent=1) + "\n")


def damage(checkpoint: Path) -> str | None:
    """What is wrong with a checkpoint that has its record of files: a file missing, cut short or changed since it
    was written (a full disk, a hand, a bad copy), or one that Trainer could not load; None when it is whole."""
    try:
        files = json.loads((checkpoint / FILES_RECORD).read_text())
        for name, recorded in files.items():
            path = checkpoint / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != recorded["bytes"]:
                return f"{name} has {path.stat().st_size:,} bytes, written with {recorded['bytes']:,}"
            if file_digest(path) != recorded["sha256"]:
                return f"{name} has other bytes than were written"
    except (ValueError, AttributeError, KeyError, TypeError) as error:  # not JSON, not UTF-8, not the record's shape
        return f"{FILES_RECORD}: {type(error).__name__}: {first_line(error)}"
    for path in sorted(checkpoint.iterdir()):
        try:
            load(path)
        except Exception as error:  # a file of a whole record that Trainer cannot load: its own, or a library's
            return f"{path.name} does not load: {type(error).__name__}: {first_line(error)}"
    return None


def load(path: Path) -> None:
    """Read a checkpoint file as Trainer reads it on resuming: JSON, safetensors, or a torch file of tensors only."""
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".safetensors":
        with safe_open(path, "pt"):
            pass
    elif path.suffix in (".pt", ".pth"):  # not training_args.bin, a pickle of objects that Trainer never reads
        with safe_globals():  # Trainer's own allow-list for its RNG states' numpy arrays
            torch.load(path, map_location="cpu", weights_only=True)


def last_complete(directory: Path) -> str | None:
    """The newest checkpoint that is whole, after removing any newer one.

    The record of its files is the last file a checkpoint gets (after Trainer's own, and before Trainer rotates
    checkpoints), so a checkpoint without it was cut off by a kill or a full disk, and one whose files are not
    as recorded, or do not load, was damaged since: the one before it is whole. Newer, unfinished checkpoints go,
    or Trainer's rotation would keep them and delete the resumed run's own."""
    numbered = sorted(
        directory.glob("checkpoint-*"), key=lambda path: int(path.name.removeprefix("checkpoint-")), reverse=True
    )
    for checkpoint in numbered:
        if (checkpoint / FILES_RECORD).is_file():
            if (problem := damage(checkpoint)) is None:
                return str(checkpoint)
            warn(
                "train",
                f"{checkpoint} is damaged ({problem}): removed, the run resumes from the checkpoint before it, "
                "or starts fresh if none is whole",
            )
        shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def clear(directory: Path) -> None:
    """Checkpoints are dead weight once the final model is written."""
    shutil.rmtree(directory, ignore_errors=True)
