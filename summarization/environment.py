"""The record of where a model was trained, kept beside its metrics so a diff explains itself."""

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

import torch

from summarization.config import METRICS_DIR

PACKAGES = ("torch", "transformers", "datasets", "tokenizers", "dvc", "dvclive")


def describe(precision: str, processes: int) -> dict:
    """Python and library versions, the device, the number of processes, the precision, the CPU math settings
    that change a CPU run's bytes (docs/reliability.md: the same model on another CPU) and the git revision of the
    code."""
    return {
        "python": platform.python_version(),
        **{package: package_version(package) for package in PACKAGES},
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.machine()})",
        "processes": processes,
        "precision": precision,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
        "mkl_cbwr": os.environ.get("MKL_CBWR", "unset"),
        "git_revision": git_revision(),
    }


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


# Files the pipeline itself rewrites in git's tree (DVC's lock, the git-tracked metrics): their changes are results
PIPELINE_RECORDS = ("dvc.lock", str(METRICS_DIR))


def git_revision() -> str:
    """HEAD's commit, marked +changes when the code, params or data pointers differ (as under dvc exp run -S); not
    when only the pipeline's own records do, as they do as soon as a stage before train (or train) has run."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "HEAD")
    if not head:
        return "none (not a git repository)"
    others = [f":(exclude){path}" for path in PIPELINE_RECORDS]
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no", "--", ".", *others) else "")
