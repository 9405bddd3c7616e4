"""End to end: the real dvc CLI on a temporary git repository holding the pipeline with tiny params."""
import json
import sys

import pytest
import yaml

from conftest import XSUM_SAMPLE, make_repo, needs_fixtures, run, set_params
from test_modeling import tiny_t5_dir

# The README's make targets on this venv as it is, typed in a shell where no venv is active (activated=False)
MAKE = f"make -o {sys.prefix}/.installed VENV={sys.prefix}"


def stages_run(output: str) -> list[str]:
    return [stage for stage in ("fetch", "preprocess", "train", "evaluate") if f"Running stage '{stage}'" in output]


def lock_hashes(repo) -> dict:
    """The md5 of every stage output, as dvc.lock records it, but for those holding wall-clock times."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    timed = ("metrics/train.json", "dvclive")
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"] if out["path"] not in timed}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The pipeline after `make repro`, committed."""
    repo = make_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    result = run(f"{MAKE} repro", repo, activated=False)
    assert stages_run(result.stdout) == ["fetch", "preprocess", "train", "evaluate"]
    run("git add -A && git commit -qm 'first run'", repo)
    return repo


def test_make_repro_writes_every_output(pipeline):
    rouge = json.loads((pipeline / "metrics/rouge.json").read_text())
    assert {"rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "n", "bootstrap", "lead1"} <= rouge.keys()
    assert rouge["n"] == 24 and rouge["bootstrap"]["rouge1"]["low"] <= rouge["rouge1"] <= rouge["bootstrap"]["rouge1"]["high"]
    predictions = [json.loads(line) for line in (pipeline / "data/predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and {"id", "reference", "prediction", "rouge1", "rougeLsum"} <= predictions[0].keys()
    train = json.loads((pipeline / "metrics/train.json").read_text())
    assert train["device"] == "cpu" and train["precision"] == "fp32" and train["steps"] == 160
    data = json.loads((pipeline / "metrics/data.json").read_text())
    assert data["train"] == {"rows": 320, "source_truncated": 0, "target_truncated": 0} and data["test"]["rows"] == 24
    lengths = json.loads((pipeline / "reports/token_lengths.json").read_text())
    assert lengths["train"]["source_tokens"].keys() == {"mean", "p50", "p90", "p99", "max"}
    assert 0 < lengths["test"]["target_tokens"]["p50"] <= lengths["test"]["target_tokens"]["max"] <= 128
    model_files = {path.name for path in (pipeline / "models/summarizer").iterdir()}
    assert "model.safetensors" in model_files and not any(name.endswith((".bin", ".pt", ".pkl")) for name in model_files)
    assert {"raw", "tokenized", "predictions.jsonl", "summary_lengths.csv"} <= {p.name for p in (pipeline / "data").iterdir()}


def test_repro_reruns_only_what_a_change_affects(pipeline):
    assert stages_run(run("dvc repro", pipeline).stdout) == []
    set_params(pipeline, {"train.learning_rate": 0.002})
    assert stages_run(run("dvc repro", pipeline).stdout) == ["train", "evaluate"]
    set_params(pipeline, {"evaluate.num_beams": 2})
    assert stages_run(run("dvc repro", pipeline).stdout) == ["evaluate"]
    run("git add -A && git commit -qm 'lr 2e-3, beams 2'", pipeline)
    diff = json.loads(run("dvc metrics diff HEAD~1 --json", pipeline).stdout)
    assert {"rouge1", "rougeLsum", "gen_len"} <= diff["metrics/rouge.json"].keys()
    assert diff["metrics/rouge.json"]["rouge1"]["old"] != diff["metrics/rouge.json"]["rouge1"]["new"]
    assert "metrics/rouge.json" in run("dvc metrics diff HEAD~1", pipeline).stdout


def test_a_failing_stage_keeps_earlier_results(pipeline):
    outputs = [pipeline / "metrics/rouge.json", pipeline / "data/predictions.jsonl"]
    before = [path.read_bytes() for path in outputs]
    set_params(pipeline, {"evaluate.generation_max_length": 0})
    result = run("python -m stages.evaluate", pipeline, ok=False)  # a stage run by hand replaces nothing on failure
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: params.yaml: evaluate.generation_max_length: input should be greater than 0 (got 0)"
    assert [path.read_bytes() for path in outputs] == before
    # dvc repro removes a stage's outputs before running it: they come back from git and the DVC cache
    assert run("dvc repro", pipeline, ok=False).returncode != 0
    run("git checkout params.yaml metrics && dvc checkout", pipeline)
    assert [path.read_bytes() for path in outputs] == before
    assert stages_run(run("dvc repro", pipeline).stdout) == []


@needs_fixtures
def test_files_source_with_a_local_t5_checkpoint(tmp_path):
    """Real XSum rows and the real t5-small tokenizer, a tiny T5 as the local model directory."""
    model_dir = tmp_path / "t5-tiny"
    model_dir.mkdir()
    tiny_t5_dir(model_dir)
    repo = make_repo(tmp_path / "repo", {
        "fetch.source": "files", "fetch.files.train": str(XSUM_SAMPLE), "fetch.files.validation": str(XSUM_SAMPLE),
        "fetch.files.test": str(XSUM_SAMPLE), "model.checkpoint": str(model_dir),
        "preprocess.max_source_length": 256, "preprocess.max_target_length": 32, "evaluate.generation_max_length": 8})
    run("dvc repro", repo)
    rouge = json.loads((repo / "metrics/rouge.json").read_text())
    assert rouge["n"] == 10 and rouge["lead1"]["rouge1"] > 0
    data = json.loads((repo / "metrics/data.json").read_text())
    lengths = json.loads((repo / "reports/token_lengths.json").read_text())
    assert lengths["train"]["source_tokens"]["max"] > 256 and data["train"]["source_truncated"] > 0


@pytest.mark.parametrize("stage, overrides, message", [  # the whole matrix runs in-process in test_bad_input.py
    ("fetch", {"train.learning_rate": -1}, "error: params.yaml: train.learning_rate: input should be greater than 0 (got -1)"),
    ("evaluate", {}, "error: models/summarizer holds no trained model: run the train stage (dvc repro)"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(repo, stage, overrides, message):
    set_params(repo, overrides)
    result = run(f"python -m stages.{stage}", repo, ok=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["xsum-recipe", "xsum-recommended"])
def test_xsum_profiles_are_valid_and_fail_cleanly_offline(repo, target):
    result = run(f"{MAKE} {target}", repo, ok=False, activated=False)
    assert result.returncode != 0
    assert "error: fetch.hub: cannot load EdinburghNLP/xsum" in result.stdout + result.stderr
    assert not (repo / "data/raw").exists()


def test_a_full_disk_is_one_line_and_keeps_the_previous_output(repo):
    run("python -m stages.fetch", repo)
    before = {path.name: path.read_bytes() for path in (repo / "data/raw").iterdir()}
    # Python ignores SIGXFSZ, so past the file-size limit a write fails like on a full disk
    result = run("ulimit -f 16 && python -m stages.fetch", repo, ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("error: cannot write data/raw: ") and "File too large" in message and "\n" not in message
    assert {path.name: path.read_bytes() for path in (repo / "data/raw").iterdir()} == before
    assert [path.name for path in (repo / "data").iterdir() if path.name.startswith(".raw")] == []
