"""dvc.yaml declares every module a stage runs, so a code change re-runs exactly the stages it affects."""
import ast

import yaml

from conftest import PROJECT

STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def project_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """The stages/*.py files that `module` imports, directly or through each other."""
    seen = set() if seen is None else seen
    path = PROJECT / "stages" / f"{module}.py"
    seen.add(path.relative_to(PROJECT).as_posix())
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module == "stages":
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
            names = [node.module.removeprefix("stages.")]
        for name in names:
            if f"stages/{name}.py" not in seen:
                project_imports(name, seen)
    return seen


def test_each_stage_depends_on_all_the_code_it_runs():
    for name, stage in STAGES.items():
        assert stage["cmd"] == f"python -m stages.{name}"
        code_deps = {dep for dep in stage["deps"] if dep.endswith(".py")}
        assert code_deps == project_imports(name), name


def test_metrics_are_committed_to_git():
    for stage in STAGES.values():
        for metric in stage.get("metrics", []):
            (path, options), = metric.items()
            assert options == {"cache": False}, path
