"""The locked environment (docs/environment.md): `make setup` installs the lock, DVC sees the lock as a dependency of
every stage, a run with other versions says so in one line, and a second `dvc repro` runs nothing."""

import json
import re
import shutil

import pytest
import yaml

from conftest import MAKE, PROJECT, run
from summarization.lockfile import DEV_LOCK, LOCK, installed, lock_warning, locked_versions

STAGES = list(yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"])  # each depends on requirements.lock
UP_TO_DATE = "Data and pipelines are up to date."


@pytest.mark.lock
def test_make_setup_installs_the_lock_package_for_package():
    """This venv is what `make setup` made (CI's is a fresh clone's): every package at the lock's version, and only
    the lock's packages. A CPU build of torch (2.13.0+cpu) needs none of the CUDA libraries the lock pins for
    PyPI's Linux build: those alone may be missing, and only there."""
    pins = locked_versions(PROJECT / DEV_LOCK)
    versions = {name: version for name, (version, _) in installed().items() if name not in ("pip", "dvc-summarization")}
    assert {name: version.split("+")[0] for name, version in versions.items()} == {
        name: version for name, version in pins.items() if name in versions
    }, "this venv is not the lock's (a package installed by hand?): rm -rf .venv && make setup"
    missing = set(pins) - set(versions)
    if "+" in versions["torch"]:
        lines = (PROJECT / DEV_LOCK).read_text().splitlines()
        assert all(
            any(line.startswith(f"{name}==") and "sys_platform == 'linux'" in line for line in lines)
            for name in missing
        )
    else:
        assert not missing


def test_the_runtime_lock_and_the_dev_lock_agree():
    """make setup installs requirements-dev.lock; the stages depend on requirements.lock: the same versions."""
    runtime, dev = locked_versions(PROJECT / LOCK), locked_versions(PROJECT / DEV_LOCK)
    assert {name: dev[name] for name in runtime} == runtime


@pytest.mark.slow
def test_a_second_repro_runs_nothing_and_status_is_clean(pipeline):
    second = run("dvc repro", pipeline)
    assert "Running stage" not in second.stdout and UP_TO_DATE in second.stdout
    assert run("dvc status", pipeline).stdout.strip() == UP_TO_DATE
    record = json.loads((pipeline / "reports/environment.json").read_text())
    assert record["lock"] == "matches requirements.lock"


@pytest.mark.slow
def test_a_changed_lock_version_changes_every_stage_and_a_test_tool_none(pipeline):
    """Every stage imports the library, and through it torch, transformers or pyarrow: a runtime version changes
    them all; a test tool's (requirements-dev.lock only) changes none."""
    lock = pipeline / LOCK
    text = lock.read_text()
    try:
        lock.write_text(re.sub(r"^tqdm==\S+", "tqdm==4.0.0", text, count=1, flags=re.MULTILINE))
        status = run("dvc status", pipeline).stdout
        assert sorted(re.findall(r"^(\w+):$", status, re.MULTILINE)) == sorted(STAGES)
        assert "modified:           requirements.lock" in status
    finally:
        lock.write_text(text)
    assert run("dvc status", pipeline).stdout.strip() == UP_TO_DATE
    dev_lock = pipeline / DEV_LOCK
    dev_text = dev_lock.read_text()
    try:
        dev_lock.write_text(re.sub(r"^pytest==\S+", "pytest==8.0.0", dev_text, count=1, flags=re.MULTILINE))
        assert run("dvc status", pipeline).stdout.strip() == UP_TO_DATE
    finally:
        dev_lock.write_text(dev_text)


@pytest.mark.slow
def test_a_stage_run_with_other_versions_warns_in_one_line(repo):
    lock = repo / LOCK
    lock.write_text(re.sub(r"^tqdm==\S+", "tqdm==4.0.0", lock.read_text(), count=1, flags=re.MULTILINE))
    result = run("dvc repro fetch", repo)
    assert "Running stage 'fetch'" in result.stdout and (repo / "data/raw/train.parquet").is_file()
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert re.fullmatch(
        r"fetch: warning: installed versions differ from requirements.lock: tqdm \S+ \(lock 4.0.0\); "
        r"`make setup` installs the lock's \(docs/environment.md\)",
        warnings[0],
    )


@pytest.mark.lock
def test_the_stages_say_nothing_when_the_versions_are_the_lock_s(monkeypatch):
    monkeypatch.chdir(PROJECT)
    assert lock_warning() is None


@pytest.mark.slow
def test_the_locks_are_what_make_lock_writes(tmp_path):
    """A dependency changed in pyproject.toml without `make lock` fails here (uv reads the package index)."""
    for name in ("pyproject.toml", "Makefile", LOCK, DEV_LOCK):
        shutil.copy(PROJECT / name, tmp_path / name)
    run(f"{MAKE} lock", tmp_path, activated=False)
    for name in (LOCK, DEV_LOCK):
        assert (tmp_path / name).read_text() == (PROJECT / name).read_text(), f"run make lock and commit {name}"
