"""What README.md and docs/ promise a newcomer about a fresh clone and a DVC experiment, run as they would: what a clone
with no remote can and cannot restore, what `dvc repro --pull --allow-missing` pulls, what `dvc exp run -S` does to
params.yaml."""

import json
import shutil

import pytest

from conftest import PROJECT, make_repo, run, stages_run

UP_TO_DATE = "Data and pipelines are up to date."


@pytest.mark.slow
def test_exp_run_writes_the_value_into_params_yaml_rewriting_it(tmp_path):
    """README: `dvc exp run -S` writes the value into params.yaml, a null comes back blank, quotes change, comments
    stay; the branch recipe's `git commit -am` commits that file."""
    repo = make_repo(tmp_path / "repo")
    shutil.copy(PROJECT / "params.yaml", repo / "params.yaml")  # the committed file, comments and all
    run("git commit -qam 'the project params' && dvc exp run -S fetch.embedded.seed=1 fetch", repo)
    params = (repo / "params.yaml").read_text()
    assert "    seed: 1\n" in params
    assert "    train:\n" in params and "train: null" not in params
    assert "prefix: 'summarize: '" in params
    assert "source: embedded            # embedded | hub | files" in params


@pytest.mark.slow
def test_a_fresh_clone_restores_outputs_only_from_a_remote(pipeline, tmp_path):
    """docs/reliability.md and docs/experiments-and-sharing.md: a fresh clone holds what git holds; `dvc checkout`,
    `dvc plots diff main` and `dvc get --rev` need the DVC cache, which `dvc pull` fills from a remote;
    `dvc repro --pull --allow-missing` pulls nothing when nothing must run."""
    clone = tmp_path / "clone"
    run(f"git clone -q {pipeline} {clone}", tmp_path)
    assert (clone / "metrics/rouge.json").is_file() and not (clone / "models/summarizer").exists()
    checkout = run("git checkout metrics && dvc checkout", clone, ok=False)
    assert checkout.returncode != 0 and "Is your cache up to date?" in checkout.stderr
    assert "deleted:" in run("dvc status", clone).stdout  # dvc repro would make the outputs again
    get = run("dvc get . reports/environment.json --rev main -o environment.json", clone, ok=False)
    assert get.returncode != 0 and not (clone / "environment.json").exists()
    plots = run("dvc plots diff main --json", clone)
    assert "DVC failed to load some plots" in plots.stderr and not any(json.loads(plots.stdout)["data"].values())
    # A remote holding the outputs (here the first clone's cache, laid out as a remote is)
    run(f"dvc remote add --local -d origin {pipeline / '.dvc/cache'}", clone)
    output = run("dvc repro --pull --allow-missing", clone).stdout
    assert stages_run(output) == [] and not (clone / "models/summarizer").exists()
    run("dvc pull", clone)
    assert (clone / "models/summarizer/model.safetensors").is_file()
    assert run("dvc status", clone).stdout.strip() == UP_TO_DATE
    run("dvc get . reports/environment.json --rev main -o environment.json", clone)
    assert (clone / "environment.json").read_bytes() == (pipeline / "reports/environment.json").read_bytes()
    plots = run("dvc plots diff main --json", clone)
    assert "errors" not in json.loads(plots.stdout) and not plots.stderr
    assert {plot[0]["revisions"] == ["workspace", "main"] for plot in json.loads(plots.stdout)["data"].values()} == {
        True
    }
