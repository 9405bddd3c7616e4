"""The README stays true: its params table, its make targets and its pipeline table match the project."""
import re

import yaml

from conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def leaf_keys(mapping: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in mapping.items():
        keys += leaf_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return keys


def test_every_param_is_documented_and_nothing_else():
    params = leaf_keys(yaml.safe_load((PROJECT / "params.yaml").read_text()))
    documented = re.findall(r"^\| `([a-z_.]+)` \|", README, flags=re.MULTILINE)
    assert sorted(documented) == sorted(params)


def test_quick_start_and_recipe_targets_exist():
    makefile = (PROJECT / "Makefile").read_text()
    for target in re.findall(r"^make ([a-z-]+)", README, flags=re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"README runs make {target}, Makefile lacks it"
    assert "make test" in (PROJECT / ".ci/run").read_text()


def test_every_stage_in_dvc_yaml_is_described():
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    for name in stages:
        assert f"| {name} | `stages/{name}.py` |" in README
