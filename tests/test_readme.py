"""The README and docs/ stay true: their make targets, the README's pipeline table and every experiment they show
match the project (docs/parameters.md is checked in test_docs.py)."""

import json
import re
import shlex
import shutil

import pytest
import yaml
from dvc.utils.hydra import apply_overrides, get_hydra_sweeps

from conftest import MAKE, PROJECT, run
from summarization.config import load_params

README = (PROJECT / "README.md").read_text()
GUIDES = README + "".join(page.read_text() for page in sorted((PROJECT / "docs").glob("*.md")))


def test_quick_start_and_recipe_targets_exist():
    makefile = (PROJECT / "Makefile").read_text()
    for target in re.findall(r"^make ([a-z-]+)", GUIDES, flags=re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"docs run make {target}, Makefile lacks it"
    assert "make test" in (PROJECT / ".ci/run").read_text()


def test_every_stage_in_dvc_yaml_is_described():
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    for name in stages:
        assert f"| {name} | `stages/{name}.py` |" in README


def experiments() -> list[str]:
    """Every `dvc exp run` the README and docs/ show and the Makefile runs, as typed (a placeholder such as
    `<its commit>` filled in)."""
    makefile = run(f"{MAKE} -n xsum-recipe xsum-recommended", PROJECT).stdout
    typed = re.sub(r"\\\n\s*", " ", GUIDES + makefile)  # a command continued on the next line
    commands = re.findall(r"dvc exp run [^`\n]*", typed)
    return [re.sub(r"<[^>]*>", "placeholder", command) for command in commands]


def set_params_options(command: str) -> list[str]:
    words = shlex.split(command, comments=True)
    return [value for option, value in zip(words, words[1:]) if option in ("-S", "--set-param")]


@pytest.mark.parametrize("command", experiments())
def test_every_experiment_shown_gives_valid_params(tmp_path, command):
    """DVC writes each -S into params.yaml (YAML 1.2, so `no` stays unquoted) and the stages read it back."""
    overrides = set_params_options(command)
    assert overrides, command
    for sweep in get_hydra_sweeps({"params.yaml": overrides}):  # a comma-separated value is a grid of runs
        params = shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
        apply_overrides(params, sweep["params.yaml"])
        load_params(params)


def test_the_quick_start_s_time_is_the_committed_run_s():
    """README's minutes for the train stage are those of the committed metrics (make repro writes both)."""
    runtime = json.loads((PROJECT / "metrics/train.json").read_text())["train_runtime"]
    assert f"train stage takes {runtime / 60:.1f} minutes" in README
