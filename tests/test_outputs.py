"""Durable writes: each staged file and directory reaches the disk before its rename, and the rename before the
stage goes on (the real writes, with os.fsync and os.replace watched)."""

import os
from pathlib import Path

import pytest

from summarization import outputs


@pytest.fixture
def events(monkeypatch) -> list[tuple]:
    """What the writes do, in order: ("fsync", path synced) and ("replace", source, destination)."""
    seen = []
    fsync, replace = os.fsync, os.replace

    def watched_fsync(descriptor):
        seen.append(("fsync", Path(os.readlink(f"/proc/self/fd/{descriptor}"))))
        fsync(descriptor)

    def watched_replace(source, destination):
        seen.append(("replace", Path(source), Path(destination)))
        replace(source, destination)

    monkeypatch.setattr(os, "fsync", watched_fsync)
    monkeypatch.setattr(os, "replace", watched_replace)
    return seen


pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads descriptors' paths from /proc")


def test_a_file_is_synced_before_its_rename_and_its_directory_after(tmp_path, events):
    outputs.write_json(tmp_path / "metrics.json", {"rouge1": 1.0})
    (_, staged), (_, source, destination), (_, directory) = events
    assert staged == source != destination == tmp_path / "metrics.json" and directory == tmp_path


def test_files_written_together_are_all_synced_before_the_first_rename(tmp_path, events):
    with outputs.together():
        outputs.write_text(tmp_path / "a.txt", "a")
        outputs.write_text(tmp_path / "b" / "b.txt", "b")
    kinds = [event[0] for event in events]
    assert kinds == ["fsync", "fsync", "replace", "replace", "fsync", "fsync"]
    assert {event[1] for event in events[-2:]} == {tmp_path, tmp_path / "b"}


def test_a_directory_is_synced_file_by_file_before_its_rename_and_its_parent_after(tmp_path, events):
    with outputs.atomic_dir(tmp_path / "model") as staging:
        (staging / "sub").mkdir()
        (staging / "sub" / "weights").write_bytes(b"w")
        (staging / "config.json").write_text("{}")
    renamed = next(index for index, event in enumerate(events) if event[0] == "replace")
    synced_before = {event[1].relative_to(events[renamed][1]) for event in events[:renamed]}
    assert synced_before == {Path("sub/weights"), Path("config.json"), Path("sub"), Path()}
    assert events[renamed][2] == tmp_path / "model" and events[-1] == ("fsync", tmp_path)
