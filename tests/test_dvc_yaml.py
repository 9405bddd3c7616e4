"""dvc.yaml declares every module a stage runs, so a code change re-runs exactly the stages it affects."""

import ast

import yaml

from conftest import PROJECT
from summarization.data import TOKENIZATION_PARAMS

STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
LIBRARY = "summarization"


def project_imports(path: str, seen: set[str] | None = None) -> set[str]:
    """`path` and the summarization/*.py files it imports, directly or through each other."""
    seen = set() if seen is None else seen
    seen.add(path)
    for node in ast.walk(ast.parse((PROJECT / path).read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module == LIBRARY:
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{LIBRARY}."):
            names = [node.module.removeprefix(f"{LIBRARY}.")]
        for name in names:
            if f"{LIBRARY}/{name}.py" not in seen:
                project_imports(f"{LIBRARY}/{name}.py", seen)
    return seen


def test_each_stage_depends_on_all_the_code_it_runs():
    for name, stage in STAGES.items():
        assert stage["cmd"] == f"python -m stages.{name}"
        code_deps = {dep for dep in stage["deps"] if dep.endswith(".py")}
        assert code_deps == project_imports(f"stages/{name}.py"), name


def test_metrics_are_committed_to_git():
    for stage in STAGES.values():
        for metric in stage.get("metrics", []):
            ((path, options),) = metric.items()
            assert options == {"cache": False}, path


def test_tokenized_splits_record_the_params_preprocess_depends_on():
    # A tokenized split records these, and train and evaluate refuse one made with others (a stage run by hand)
    assert tuple(STAGES["preprocess"]["params"]) == TOKENIZATION_PARAMS
