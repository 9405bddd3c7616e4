"""The checkpoint before fine-tuning as a baseline (the pretrained stage), and a checkpoint evaluated with no
training at all (train.num_train_epochs: 0): a tiny T5 saved by the test, through the real dvc CLI."""

import json

import pytest

from conftest import make_repo, needs_fixtures, run, set_params, stages_run
from helpers import tiny_t5_dir
from summarization import abstractiveness, rouge


@pytest.mark.slow
@needs_fixtures
def test_a_pretrained_checkpoint_is_scored_before_fine_tuning_and_without_training(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    tiny_t5_dir(checkpoint)
    repo = make_repo(tmp_path / "repo", {"model.checkpoint": str(checkpoint), "train.num_train_epochs": 0})
    result = run("dvc repro evaluate pretrained", repo)  # the stages that score the checkpoint, and those before
    assert "pretrained" in stages_run(result.stdout) and "train: 0 steps" in result.stdout
    pretrained = json.loads((repo / "metrics/pretrained.json").read_text())
    trained = json.loads((repo / "metrics/rouge.json").read_text())
    # no training: the model evaluated is the checkpoint, in the files a trained model's results go to
    assert pretrained == trained and pretrained["n"] == 24
    assert {*rouge.ROUGE_TYPES, *abstractiveness.MODEL_METRICS} <= pretrained.keys()
    means = json.loads((repo / "reports/pretrained_abstractiveness.json").read_text())["pretrained"]
    assert means.keys() == set(abstractiveness.FIELDS) and means["novel_2"] == pretrained["novel_2"]
    shown = run("dvc metrics show", repo).stdout
    assert next(line for line in shown.splitlines() if line.startswith("metrics/pretrained.json")).split()[1:]
    # once for a checkpoint and data: a new training leaves it be (dvc status: what dvc repro would run first)
    set_params(repo, {"train.num_train_epochs": 1})
    changed = json.loads(run("dvc status --json", repo).stdout)
    assert "train" in changed and "pretrained" not in changed
