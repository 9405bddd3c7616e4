"""The project runs where Linux-only calls are missing (macOS): every module imports without them."""

import subprocess
import sys

from conftest import PROJECT

LINUX_ONLY = ("sched_getaffinity", "sched_setaffinity")  # in os on Linux, absent on macOS


def test_every_module_imports_without_linux_only_calls():
    modules = [
        f"{folder}.{path.stem}"
        for folder in ("summarization", "stages", "bench")
        for path in sorted((PROJECT / folder).glob("*.py"))
        if path.stem != "__init__"
    ]
    code = (
        f"import importlib, os\nfor name in {LINUX_ONLY!r}: delattr(os, name)\n"
        f"for module in {modules!r}: importlib.import_module(module)\n"
        "from summarization.data import usable_cores\nassert usable_cores() >= 1"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
