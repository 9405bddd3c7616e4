"""The train stage as two processes (DDP over gloo on the CPU), started by the stage itself from train.devices, matches
a single process; started through torchrun by hand, it trains each process as many steps."""

import json
import math

import pytest
from transformers import AutoTokenizer

from conftest import make_project, run, run_stages

pytestmark = pytest.mark.slow  # several processes, each importing torch, training


def test_two_processes_match_one(tmp_path, pipeline):
    # 2 processes x 8 rows, started by the stage itself (train.devices): the same global batch and steps as the tiny
    # config's one process x 16 rows (torchrun by hand starts the same training: the test below)
    repo = make_project(tmp_path / "repo", {"train.per_device_train_batch_size": 8, "train.devices": 2})
    run_stages(repo, "fetch", "preprocess")
    trained = run("python -m stages.train", repo)
    run_stages(repo, "evaluate")
    assert "train: starting 2 processes through torch's launcher (train.devices: 2)" in trained.stdout
    distributed = json.loads((repo / "metrics/train.json").read_text())
    distributed_processes = json.loads((repo / "reports/environment.json").read_text())["processes"]
    rouge = json.loads((repo / "metrics/rouge.json").read_text())
    single = json.loads((pipeline / "metrics/train.json").read_text())  # the tiny config, one process
    single_processes = json.loads((pipeline / "reports/environment.json").read_text())["processes"]
    assert (distributed_processes, single_processes) == (2, 1)
    assert distributed["steps"] == single["steps"] == 160
    assert abs(distributed["train_loss"] - single["train_loss"]) < 0.05 * single["train_loss"]
    lead1 = json.loads((pipeline / "metrics/lead1.json").read_text())  # the same data's
    assert rouge["rouge1"] > lead1["rouge1"]  # the model trained by two processes learned the task


def test_torchrun_with_token_budgets_gives_each_process_as_many_steps(tmp_path):
    # 14 token-budget batches an epoch dealt out to 2 processes: 7 steps an epoch each, none waiting on the other
    repo = make_project(
        tmp_path / "repo", {"train.max_tokens_per_batch": 2048, "train.length_buckets": 4, "train.num_train_epochs": 2}
    )
    run_stages(repo, "fetch", "preprocess")
    output = run("torchrun --standalone --nproc_per_node 2 -m stages.train", repo).stdout
    assert "train: 14 batches an epoch in 7 shapes" in output
    assert json.loads((repo / "reports/environment.json").read_text())["processes"] == 2
    train = json.loads((repo / "metrics/train.json").read_text())
    vocabulary = len(AutoTokenizer.from_pretrained(repo / "data/tokenized/tokenizer"))
    assert train["steps"] == 14 and train["train_loss"] < math.log(vocabulary)  # an untrained model's loss


def test_an_error_in_launched_processes_is_their_one_line_and_exit_status(tmp_path):
    repo = make_project(tmp_path / "repo", {"train.devices": 2})  # nothing fetched: each process stops at reading data
    result = run("python -m stages.train", repo, ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # From each process that got there before the launcher stopped the others on the first one's failure
    errors = {line for line in result.stderr.splitlines() if line.startswith("error: ")}
    assert errors == {"error: data/tokenized/train.parquet is missing: run the stage that writes it (dvc repro)"}
