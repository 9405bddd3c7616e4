"""The record of where a model was trained, kept beside its metrics so a diff explains itself; and the process
settings a CPU run trains faster with."""

import ctypes
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

import torch

from summarization.config import METRICS_DIR
from summarization.lockfile import lock_status

PACKAGES = ("torch", "transformers", "datasets", "tokenizers", "dvc", "dvclive")
# glibc's mallopt parameters (malloc.h) and the size below which freed memory is kept for reuse
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_BYTES = 2**30


def describe(precision: str, processes: int) -> dict:
    """Python and library versions (and whether all are the lock's), the device, the number of processes, the
    precision, the CPU math settings that change a CPU run's bytes (docs/reliability.md: the same model on another
    CPU) and the git revision of the code."""
    return {
        "python": platform.python_version(),
        **{package: package_version(package) for package in PACKAGES},
        "lock": lock_status(),  # whether every package is at requirements.lock's version
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

    try:
        head = git("rev-parse", "HEAD")
    except FileNotFoundError:  # no git program (a container with the code copied in): the model is still written
        return "unknown (git not installed)"
    if not head:
        return "none (not a git repository)"
    others = [f":(exclude){path}" for path in PIPELINE_RECORDS]
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no", "--", ".", *others) else "")


def keep_freed_memory() -> None:
    """Tell glibc's allocator to keep freed blocks up to 1 GiB for reuse instead of giving them back to the kernel.

    By default glibc serves each block over its dynamic mmap threshold (up to 32 MiB) with a fresh mmap and unmaps it
    when freed, and trims the heap's free top: a CPU training step allocates and frees the same vocabulary-sized
    tensors every step, so every step faults all their pages in again (the embedded model: ~27,000 page faults a
    step, ~1,000 with this; BENCHMARKS.md). The memory kept is what the step uses anyway, and no byte of a result
    changes. PyTorch's CPU guide recommends a caching allocator (jemalloc, tcmalloc) for the same reason; these two
    settings get it from the allocator every glibc process already has. Elsewhere (macOS, musl) it does nothing."""
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    for parameter in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD):
        libc.mallopt(parameter, KEPT_BYTES)
