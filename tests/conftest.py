"""Shared helpers: temporary copies of the project (git+DVC repositories where DVC is under test), tiny params, its
stages run in this process, the shared fixtures."""

import contextlib
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests run offline; without it the Hub is retried for ~20 s
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# Under `pytest -n` (make test), each worker gets its share of the cores for torch's threads, in the tests and in
# the stages they start (OMP_NUM_THREADS is a user's variable below): more threads than cores only spin.
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    from summarization.data import usable_cores  # here, below HF_HUB_OFFLINE: huggingface_hub reads it on import

    os.environ["OMP_NUM_THREADS"] = str(max(1, usable_cores() // workers))

# The tests' own training runs take the train stage's allocator settings (their stage runs take them themselves)
from summarization.cli import run_command  # noqa: E402  (below HF_HUB_OFFLINE, as above)
from summarization.config import read_yaml  # noqa: E402
from summarization.environment import keep_freed_memory  # noqa: E402

keep_freed_memory()

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT.parent / "shared" / "fixtures"
T5_TOKENIZER = FIXTURES / "t5-small-tokenizer"
# On a GPU machine ../shared stays behind; the GPU kit (docs/training.md) brings the same directory as .gpukit/t5-small.
T5_SMALL = next((path for path in (T5_TOKENIZER, PROJECT / ".gpukit" / "t5-small") if path.is_dir()), None)
XSUM_SAMPLE = FIXTURES / "xsum-sample.jsonl"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"{FIXTURES} is absent (a user's clone has no ../shared)"
)

# Small enough that a whole `dvc repro` takes seconds on a 2-core CPU.
TINY = {
    "fetch.embedded.train_size": 320,
    "fetch.embedded.validation_size": 16,
    "fetch.embedded.test_size": 24,
    "model.embedded.d_model": 64,
    "model.embedded.d_ff": 128,
    "model.embedded.num_layers": 1,
    "model.embedded.num_heads": 2,
    "train.num_train_epochs": 8,
    "train.learning_rate": 0.005,
    "train.per_device_train_batch_size": 16,
    "train.logging_steps": 20,
    "train.save_steps": 40,
    "evaluate.generation_max_length": 24,
    "evaluate.bootstrap_samples": 100,
}
# Every stage, in the order dvc.yaml lists them: each after the stages whose outputs it reads
PIPELINE = list(yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"])
PROJECT_FILES = [
    "dvc.yaml",
    "params.yaml",
    "stages",
    "summarization",
    "Makefile",
    "pyproject.toml",
    "requirements.lock",
    "requirements-dev.lock",
    "data/files",
    "README.md",
    ".gitignore",
]


VENV_BIN = Path(sys.executable).parent
# What a new user's shell has, and nothing else of the test runner's environment (its PATH, VIRTUAL_ENV, ...).
# PYTHONPATH is kept where set: the GPU kit (docs/training.md) installs the dependencies in a directory it names.
USER_VARIABLES = ("HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "PYTHONPATH", "OMP_NUM_THREADS")


def plain_environment() -> dict:
    """A shell where no virtual environment is active: the venv's bin/ is not on PATH, `python` is the system's."""
    path = [
        entry for entry in os.environ["PATH"].split(os.pathsep) if entry and Path(entry).resolve() != VENV_BIN.resolve()
    ]
    return {name: os.environ[name] for name in USER_VARIABLES if name in os.environ} | {
        "PATH": os.pathsep.join(path),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",  # offline here; without them the Hub is retried for ~20 s
        # No AWS lookups beyond loopback: S3 tests talk to a local server with these dummy credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def activated_environment() -> dict:
    """The same shell after the README's `. .venv/bin/activate`."""
    env = plain_environment()
    return env | {"PATH": f"{VENV_BIN}{os.pathsep}{env['PATH']}", "VIRTUAL_ENV": sys.prefix}


def run(command: str, cwd: Path, ok: bool = True, activated: bool = True) -> subprocess.CompletedProcess:
    """Run a shell command as a user would, in a shell with the venv activated or not; with ok=True it
    must succeed (its output is shown when it does not)."""
    env = activated_environment() if activated else plain_environment()
    result = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
    if ok and result.returncode != 0:
        pytest.fail(f"`{command}` exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def set_params(repo: Path, overrides: dict) -> None:
    """Set dotted keys in the repo's params.yaml, as `dvc exp run -S` would."""
    path = repo / "params.yaml"
    params = read_yaml(path)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            section = section[key]
        section[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(path: Path, overrides: dict | None = None) -> Path:
    """A copy of the project with tiny params, for its stages to run in (run_stages): no git, no DVC."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, path / name)
    set_params(path, TINY | (overrides or {}))
    return path


def make_repo(path: Path, overrides: dict | None = None) -> Path:
    """make_project as a fresh git + DVC repository, committed: for the tests of what DVC does (dvc repro's
    run-cache and persisted outputs, dvc exp, remotes) and of what a user types."""
    make_project(path, overrides)
    run("git init -q -b main && dvc init -q", path)
    shutil.copy(PROJECT / ".dvc/config", path / ".dvc/config")
    shutil.copytree(PROJECT / ".dvc/plots", path / ".dvc/plots")  # plot templates and the offline page
    run("git add -A && git commit -qm init", path)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def run_stages(project: Path, *stages: str) -> None:
    """Run stages one after the other in `project`, in this process, as `python -m stages.<stage>` runs each (a
    UserError is a SystemExit holding its one line). A stage reads and writes every path relative to the working
    directory, the project's root, as dvc runs it there: the stage runs with `project` as the working directory.
    Seconds cheaper than a new process, which imports torch and transformers again; a test of what a user types, or
    of what DVC does, runs the command itself (run). A train stage run here holds `project`'s models/ locked for
    the rest of this process (resume.hold): where a new process trains in the same project later, train there too."""
    with contextlib.chdir(project):
        for stage in stages:
            run_command(getattr(importlib.import_module(f"stages.{stage}"), stage))


# The README's make targets on this venv as it is, typed in a shell where no venv is active (activated=False)
MAKE = f"make -o {sys.prefix}/.installed VENV={sys.prefix}"


def stages_run(output: str) -> list[str]:
    return [
        stage
        for stage in ("fetch", "preprocess", "train", "evaluate", "baseline", "pretrained", "examples", "export")
        if f"Running stage '{stage}'" in output
    ]


def build_pipeline(repo: Path) -> None:
    """`make repro` in a new repository at `repo`, committed: the pipeline the `pipeline` fixture copies."""
    make_repo(repo)
    result = run(f"{MAKE} repro", repo, activated=False)
    assert stages_run(result.stdout) == [
        "fetch",
        "preprocess",
        "train",
        "evaluate",
        "baseline",
        "pretrained",
        "examples",
        "export",
    ]
    (repo.parent / "make-repro.log").write_text(result.stdout + result.stderr)
    run("git add -A && git commit -qm 'first run'", repo)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, worker_id) -> Path:
    """The pipeline after `make repro`, committed on main: test_pipeline.py checks it, then test_sharing.py
    shares it (each test leaves it as it found it, on main with its outputs checked out). Under `pytest -n` the first
    worker to need it builds it once, in the directory the workers share, and each worker works on a copy of its own
    (xdist's recipe for a session fixture made once, filelock being torch's and DVC's dependency)."""
    mine = tmp_path_factory.mktemp("pipeline")
    if worker_id == "master":  # no xdist: nothing to share
        build_pipeline(mine / "repo")
        return mine / "repo"
    built = tmp_path_factory.getbasetemp().parent / "pipeline"  # this run's, shared by its workers
    with FileLock(f"{built}.lock"):
        if not (built / "built").exists():
            shutil.rmtree(built, ignore_errors=True)  # what a failed build left
            build_pipeline(built / "repo")
            (built / "built").touch()
    shutil.copytree(built, mine, symlinks=True, dirs_exist_ok=True)
    return mine / "repo"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: under `pytest -n` (--dist loadgroup, pyproject.toml) a worker takes the next test as it frees
    up, and the longest test, started last, would set the wall time while the other workers idle (xdist's default
    deals the tests out in advance, worksteal splits them in halves: 9 min 30 s and 8 min 10 s from a fresh clone).
    The first test of the `pipeline` leads: the worker that takes it builds the pipeline, while the other runs the slow
    tests that need none and finds it built when it comes to the pipeline's tests."""

    def needs_the_pipeline(item: pytest.Item) -> bool:
        return "pipeline" in getattr(item, "fixturenames", ())

    first = next(filter(needs_the_pipeline, items), None)
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, item is not first, needs_the_pipeline(item)))
