"""Resuming an interrupted training run from its last checkpoint, and only a run of the same params and data.

Checkpoints live in models/checkpoints/, which dvc.yaml does not declare: DVC then neither deletes it
before train runs (as it does with outputs) nor pushes it, and the train stage keeps its run-cache
(DVC gives that up for any `persist: true` output)."""

import hashlib
import json
import shutil
from pathlib import Path

from summarization.cli import report, warn
from summarization.config import Params

FINGERPRINT_FILE = "fingerprint"


def fingerprint(params: Params, files: list[Path]) -> str:
    """What makes a checkpoint resumable: the model and train params and the bytes of `files` (the
    training data and the code)."""
    digest = hashlib.sha256(json.dumps([params.model.model_dump(), params.train.model_dump()], sort_keys=True).encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


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


def last_complete(directory: Path) -> str | None:
    """The newest checkpoint that Trainer finished writing, after removing any newer one.

    trainer_state.json is the last file Trainer writes (and it rotates checkpoints after), so a checkpoint
    whose state is missing or does not parse was cut off by a kill or a full disk: the one before it is whole.
    Newer, unfinished checkpoints go, or Trainer's rotation would keep them and delete the resumed run's own."""
    numbered = sorted(
        directory.glob("checkpoint-*"), key=lambda path: int(path.name.removeprefix("checkpoint-")), reverse=True
    )
    for checkpoint in numbered:
        state = checkpoint / "trainer_state.json"
        if state.is_file():
            try:
                json.loads(state.read_text())
                return str(checkpoint)
            except ValueError as error:  # not JSON, or not UTF-8
                warn(
                    "train",
                    f"{checkpoint} is damaged ({state.name}: {error}): removed, the run resumes from the "
                    "checkpoint before it, or starts fresh if none is whole",
                )
        shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def clear(directory: Path) -> None:
    """Checkpoints are dead weight once the final model is written."""
    shutil.rmtree(directory, ignore_errors=True)
