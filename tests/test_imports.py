"""Importing a module of the package changes nothing outside it: transformers' attention and mask registries,
accelerate's functions, dynamo's config, the environment and numpy's global random state are as they were. What a
run must change, it changes inside the run (SummarizationTrainer.train) and puts back after."""

import json
import subprocess
import sys

from conftest import PROJECT

MODULES = sorted(
    f"{package}.{path.stem}" for package in ("summarization", "stages") for path in (PROJECT / package).glob("*.py")
)

# In a fresh interpreter: the libraries whose state is compared are imported first, and with them what they change
# as they are imported themselves (torch._dynamo writes TORCHINDUCTOR_CACHE_DIR): then each module in turn.
PROBE = """
import importlib, json, os, sys
import numpy as np
import accelerate, accelerate.optimizer, accelerate.utils
import torch._dynamo
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS


def state():
    functions = {
        f"{name}.{key}": value
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "accelerate"
        for key, value in vars(module).items()
        if callable(value)
    }
    return {
        "transformers' attention functions": dict(ALL_ATTENTION_FUNCTIONS.items()),
        "transformers' mask functions": dict(ALL_MASK_ATTENTION_FUNCTIONS.items()),
        "accelerate's functions": functions,
        "torch._dynamo.config": torch._dynamo.config.get_config_copy(),
        "os.environ": dict(os.environ),
    }


def changes(before, after):
    # Entries changed, removed or added; accelerate's modules imported meanwhile add functions of their own
    return [
        f"{what}[{key!r}]"
        for what, values in before.items()
        for key in values.keys() | (set() if what == "accelerate's functions" else after[what].keys())
        if values.get(key, "absent") != after[what].get(key, "absent")
    ]


for module in sys.argv[1:]:
    before, random_state = state(), np.random.get_state()
    importlib.import_module(module)
    found = changes(before, state())
    if not all(np.array_equal(a, b) for a, b in zip(random_state, np.random.get_state())):
        found.append("numpy's global random state")
    print(json.dumps([module, found]))
"""


def test_importing_any_module_changes_nothing_outside_it():
    """Each module imported after the ones before it (what a module imports first counts as its own)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *MODULES], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    changed = {module: found for module, found in map(json.loads, result.stdout.splitlines()) if found}
    assert changed == {}, f"importing changed the process: {changed}"


def test_a_run_changes_the_process_inside_its_block_and_puts_it_back(monkeypatch):
    """What SummarizationTrainer.train enters: the attention registries (nested, as load_model enters them too),
    dynamo's settings and the compile cache's place, where the user did not choose one."""
    import os

    import torch._dynamo
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from summarization import modeling, training

    def state():
        return (
            dict(ALL_ATTENTION_FUNCTIONS.items()),
            dict(ALL_MASK_ATTENTION_FUNCTIONS.items()),
            torch._dynamo.config.get_config_copy(),
            dict(os.environ),
        )

    before = state()
    with modeling.attention_registered(), training.compiling_each_shape(40):
        with modeling.attention_registered():
            assert ALL_ATTENTION_FUNCTIONS[modeling.FLEX_ATTENTION] is modeling.flex_attention_forward
        assert ALL_MASK_ATTENTION_FUNCTIONS["eager"] is modeling.eager_mask_unskipped
        dynamo = torch._dynamo.config
        assert dynamo.recompile_limit >= 40 and not dynamo.assume_static_by_default and dynamo.specialize_float
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"].endswith(os.path.join("summarization", "torchinductor"))
    assert state() == before
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/chosen")  # the user's choice wins
    with training.compiling_each_shape(1):
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/chosen"
