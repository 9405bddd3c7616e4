"""End to end: the real dvc CLI on a temporary git repository holding the pipeline with tiny params."""

import csv
import json
import os
import re
import shutil

import pytest

from conftest import MAKE, make_project, run, run_stages, set_params, stages_run
from summarization import abstractiveness, modeling

pytestmark = pytest.mark.slow  # whole runs, stages in new processes, dvc


def test_make_repro_writes_every_output(pipeline):
    rouge = json.loads((pipeline / "metrics/rouge.json").read_text())
    assert {"rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "n", "bootstrap"} <= rouge.keys()
    assert (
        rouge["n"] == 24
        and rouge["bootstrap"]["rouge1"]["low"] <= rouge["rouge1"] <= rouge["bootstrap"]["rouge1"]["high"]
    )
    predictions = [json.loads(line) for line in (pipeline / "data/predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and {"id", "reference", "prediction", "rouge1", "rougeLsum"} <= predictions[0].keys()
    lead1 = json.loads((pipeline / "metrics/lead1.json").read_text())
    assert (
        lead1.keys() == {"rouge1", "rouge2", "rougeL", "rougeLsum", "novel_names", "density"}
        and 0 < lead1["rouge1"] < rouge["rouge1"]
        and lead1["novel_names"] == 0  # by construction: every word of lead-1 is the document's
    )
    leads = [json.loads(line) for line in (pipeline / "data/lead1.jsonl").read_text().splitlines()]
    assert [(row["id"], row["reference"]) for row in leads] == [(row["id"], row["reference"]) for row in predictions]
    assert {"lead", "rouge1", "rougeLsum"} <= leads[0].keys()
    # how abstractive each prediction is, and lead-1 (the document's first sentence) as the oracle: all copied
    assert all(set(abstractiveness.FIELDS) <= row.keys() for row in predictions)
    assert all(row["coverage"] == 1 and row["novel_4"] == 0 for row in leads)
    assert all(set(abstractiveness.FIELDS) == row["reference_measures"].keys() for row in leads)
    assert lead1["density"] > rouge["density"] and 0 <= rouge["novel_2"] <= 1
    abstractive = json.loads((pipeline / "reports/abstractiveness.json").read_text())
    abstractive |= json.loads((pipeline / "reports/baseline_abstractiveness.json").read_text())
    assert abstractive["predictions"]["novel_2"] == rouge["novel_2"] and abstractive["lead1"]["coverage"] == 1
    for path, column in (("data/coverage.csv", "predictions"), ("data/reference_coverage.csv", "references")):
        with open(pipeline / path) as file:
            coverage = list(csv.DictReader(file))
        assert [row["coverage"] for row in coverage][::10] == ["0.00", "0.50", "1.00"]
        assert sum(int(row[column]) for row in coverage) == 24
    train = json.loads((pipeline / "metrics/train.json").read_text())
    assert train["steps"] == 160 and train["parameters"] > 0
    environment = json.loads((pipeline / "reports/environment.json").read_text())
    assert environment["device"].startswith("cpu") == (modeling.device().type == "cpu")  # else the GPU's name
    assert environment["precision"] == modeling.resolve_precision("auto") and environment["processes"] == 1
    data = json.loads((pipeline / "metrics/data.json").read_text())
    assert data["train"].keys() == {"rows", "source_truncated", "target_truncated"}  # the references: baseline's
    assert data["train"]["rows"] == 320 and data["train"]["source_truncated"] == 0 and data["test"]["rows"] == 24
    references = json.loads((pipeline / "metrics/references.json").read_text())
    assert references == {field: abstractive["references"][field] for field in ("novel_2", "novel_names", "density")}
    assert 0 <= rouge["novel_names"] <= 1 and all("novel_names" in row for row in predictions)
    # the embedded model has no checkpoint before fine-tuning (random weights): nothing to score
    assert json.loads((pipeline / "metrics/pretrained.json").read_text()) == {}
    page = (pipeline / "reports/examples.html").read_text()
    assert page.count('"prediction"') == 24 and "test split, all 24 examples" in page
    lengths = json.loads((pipeline / "reports/token_lengths.json").read_text())
    assert lengths["train"]["source_tokens"].keys() == {"mean", "p50", "p90", "p99", "max"}
    assert 0 < lengths["test"]["target_tokens"]["p50"] <= lengths["test"]["target_tokens"]["max"] <= 128
    model_files = {path.name for path in (pipeline / "models/summarizer").iterdir()}
    assert "model.safetensors" in model_files and not any(
        name.endswith((".bin", ".pt", ".pkl")) for name in model_files
    )
    assert {"raw", "tokenized", "predictions.jsonl", "summary_lengths.csv", "lead1.jsonl"} <= {
        p.name for p in (pipeline / "data").iterdir()
    }


def test_training_evaluates_every_epoch_and_keeps_the_best(pipeline):
    table = (pipeline / "reports/evaluations.md").read_text().splitlines()
    assert [cell.strip() for cell in table[0].strip("|").split("|")] == [
        "Training Loss",
        "Epoch",
        "Step",
        "Validation Loss",
        "Rouge1",
        "Rouge2",
        "Rougel",
        "Rougelsum",
        "Gen Len",
    ]
    rows = [line for line in table[2:] if line.startswith("|")]
    assert [float(row.split("|")[2]) for row in rows] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert re.search(r"The model has the weights of the best evaluation, step \d+ \(rougeL \d+\.\d+\)", table[-1])
    validation_rouge = (pipeline / "dvclive/plots/metrics/eval/rougeL.tsv").read_text().splitlines()
    assert len(validation_rouge) == 1 + 8
    log = (pipeline.parent / "make-repro.log").read_text()
    assert "wrote models/summarizer/ with the weights of step" in log


def test_early_stopping_ends_training_when_validation_rouge_stops_improving(tmp_path):
    # at this learning rate the model does not change: its second evaluation is no better than its first
    repo = make_project(tmp_path / "repo", {"train.learning_rate": 1e-12, "train.early_stopping_patience": 1})
    run_stages(repo, "fetch", "preprocess", "train")
    assert json.loads((repo / "metrics/train.json").read_text())["steps"] == 40  # 2 of 8 epochs
    assert "the best evaluation, step 20 " in (repo / "reports/evaluations.md").read_text()


def test_logs_off_a_terminal_hold_the_stages_summary_lines_only(pipeline):
    log = (pipeline.parent / "make-repro.log").read_text()
    for stage in ("fetch", "preprocess", "train", "evaluate", "baseline", "pretrained", "examples", "export"):
        lines = [line for line in log.splitlines() if line.startswith(f"{stage}: ")]
        # train says as it starts what its epoch's batches are (their shapes and padding), then its summary
        assert len(lines) == (2 if stage == "train" else 1), stage
    assert re.match(
        r"train: 20 batches an epoch in \d+ shapes",
        [line for line in log.splitlines() if line.startswith("train: ")][0],
    )
    assert "\r" not in log and "it/s]" not in log  # no progress bar, ours or a library's


def flat_metrics(shown: dict) -> dict:
    """`dvc metrics show --json` of the workspace as {file: {dotted.key: value}}."""

    def flatten(data: dict, prefix: str = "") -> dict:
        flat = {}
        for key, value in data.items():
            flat |= flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
        return flat

    (workspace,) = shown.values()
    return {path: flatten(content["data"]) for path, content in workspace["data"].items()}


def test_metrics_are_few_numbers_each_once(pipeline):
    metrics = flat_metrics(json.loads(run("dvc metrics show --json", pipeline).stdout))
    assert set(metrics) == {
        "metrics/data.json",
        "metrics/train.json",
        "metrics/rouge.json",
        "metrics/lead1.json",
        "metrics/references.json",
        "metrics/pretrained.json",  # empty for the embedded model (tests/test_pretrained.py: a pretrained one)
    }
    values = [value for file in metrics.values() for value in file.values()]
    assert all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
    for baseline in ("metrics/lead1.json", "metrics/references.json"):  # under the model's columns
        assert metrics[baseline].keys() <= metrics["metrics/rouge.json"].keys()
    assert "novel_names" in metrics["metrics/lead1.json"] and "novel_names" in metrics["metrics/rouge.json"]
    assert metrics["metrics/train.json"].keys() == {
        "train_loss",
        "steps",
        "train_runtime",
        "train_samples_per_second",
        "parameters",
    }
    table = run("dvc metrics show", pipeline).stdout
    assert "environment" not in table and "p90" not in table
    assert len(table.splitlines()[0].split()) <= 45  # Path and the metrics: readable; per-n detail is in reports/


def test_repro_reruns_only_what_a_change_affects(pipeline):
    assert stages_run(run("dvc repro", pipeline).stdout) == []
    leads = (pipeline / "data/lead1.jsonl").stat().st_mtime_ns
    set_params(pipeline, {"train.learning_rate": 0.002})  # a new model: its lead-1 baseline is the one computed
    assert stages_run(run("dvc repro", pipeline).stdout) == ["train", "evaluate", "examples", "export"]
    set_params(pipeline, {"evaluate.num_beams": 2})  # the checkpoint before fine-tuning is evaluated so too
    assert stages_run(run("dvc repro", pipeline).stdout) == ["evaluate", "pretrained", "examples", "export"]
    assert (pipeline / "data/lead1.jsonl").stat().st_mtime_ns == leads  # not computed again, nor checked out
    run("git add -A && git commit -qm 'lr 2e-3, beams 2'", pipeline)
    diff = json.loads(run("dvc metrics diff HEAD~1 --json", pipeline).stdout)
    assert diff.keys() == {"metrics/train.json", "metrics/rouge.json"}  # the data did not change, nor its numbers
    assert diff["metrics/train.json"].keys() <= {"train_loss", "train_runtime", "train_samples_per_second"}
    assert {"rouge1", "rougeLsum", "gen_len"} <= diff["metrics/rouge.json"].keys()
    assert diff["metrics/rouge.json"]["rouge1"]["old"] != diff["metrics/rouge.json"]["rouge1"]["new"]
    assert "metrics/rouge.json" in run("dvc metrics diff HEAD~1", pipeline).stdout
    run("git reset -q --hard HEAD~1 && dvc checkout -q", pipeline)  # the first run again, for the tests that follow


def test_a_failing_stage_keeps_earlier_results(pipeline):
    outputs = [pipeline / "metrics/rouge.json", pipeline / "data/predictions.jsonl"]
    before = [path.read_bytes() for path in outputs]
    set_params(pipeline, {"evaluate.generation_max_length": 0})
    result = run("python -m stages.evaluate", pipeline, ok=False)  # a stage run by hand replaces nothing on failure
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == "error: params.yaml: evaluate.generation_max_length: input should be greater than 0 (got 0)"
    )
    assert [path.read_bytes() for path in outputs] == before
    # dvc repro removes a stage's outputs before running it: they come back from git and the DVC cache
    assert run("dvc repro", pipeline, ok=False).returncode != 0
    run("git checkout params.yaml metrics && dvc checkout", pipeline)
    assert [path.read_bytes() for path in outputs] == before
    assert stages_run(run("dvc repro", pipeline).stdout) == []


@pytest.mark.parametrize(
    "stage, overrides, message",
    [  # the whole matrix runs in-process in test_bad_input.py
        (
            "fetch",
            {"train.learning_rate": -1},
            "error: params.yaml: train.learning_rate: input should be greater than 0 (got -1)",
        ),
        ("evaluate", {}, "error: models/summarizer holds no trained model: run the train stage (dvc repro)"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, stage, overrides, message):
    repo = make_project(tmp_path / "repo", overrides)  # the stage as typed in a shell, in a fresh process
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


def test_a_full_disk_is_one_line_and_keeps_the_previous_output(tmp_path):
    repo = make_project(tmp_path / "repo")
    run_stages(repo, "fetch")
    before = {path.name: path.read_bytes() for path in (repo / "data/raw").iterdir()}
    # Python ignores SIGXFSZ, so past the file-size limit a write fails like on a full disk
    result = run("ulimit -f 16 && python -m stages.fetch", repo, ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("error: cannot write data/raw: ") and "File too large" in message and "\n" not in message
    assert {path.name: path.read_bytes() for path in (repo / "data/raw").iterdir()} == before
    assert [path.name for path in (repo / "data").iterdir() if path.name.startswith(".raw")] == []


def test_a_full_disk_in_training_is_one_line_and_the_rerun_trains(tmp_path):
    repo = make_project(tmp_path / "repo")
    run_stages(repo, "fetch", "preprocess")
    # File-size limits for the tiny model, whose training data's copy takes ~130 KB, its weights ~520 KB and its
    # optimizer's state twice that (sh's ulimit counts 512-byte blocks)
    for blocks, message in [
        (80, "error: cannot write a temporary copy of data/tokenized/train.parquet in data: File too large; "),
        (400, "error: cannot write models/checkpoints (is the disk full?): Error while serializing: I/O error: "),
        (1200, "error: cannot write models/checkpoints (is the disk full?): [enforce fail at inline_container.cc"),
    ]:
        # Not writing bytecode: the limit would cut the project's .pyc files short, for the next run to trip on
        result = run(f"ulimit -f {blocks} && PYTHONDONTWRITEBYTECODE=1 python -m stages.train", repo, ok=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(message)
    # The checkpoint cut short lacks its trainer_state.json: the rerun removes it and trains
    assert (repo / "models/checkpoints/checkpoint-20").is_dir()
    run_stages(repo, "train")
    assert (repo / "models/summarizer/model.safetensors").is_file()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="runs as root, dropping root's privileges")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_a_read_only_directory_is_one_line_and_keeps_the_previous_output(tmp_path):
    repo = make_project(tmp_path / "repo")
    run_stages(repo, "fetch")
    run("chmod a-w data", repo)
    before = {path.name: path.read_bytes() for path in (repo / "data/raw").iterdir()}
    # Root writes through any permission bits: the stage runs with no capability at all, so they hold for it as
    # for any user. (Switching to another user instead fails where the venv's python lives in root's home.)
    result = run("setpriv --bounding-set=-all --inh-caps=-all python -m stages.fetch", repo, ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: cannot write data/raw: Permission denied; the previous data/raw is intact"
    assert {path.name: path.read_bytes() for path in (repo / "data/raw").iterdir()} == before
