"""train.compile: one graph for every batch shape, compiled once, to the losses of eager steps, resumed too."""

import json
import re
from pathlib import Path

import platformdirs
import pytest

from conftest import make_repo, run
from helpers import kill_after_checkpoint, retrain
from summarization.training import compile_cache

# One source length and two target lengths: at most two shapes, each compiled in ~30 s on a 2-core CPU
FEW_SHAPES = {
    "train.max_tokens_per_batch": 2048,
    "train.length_buckets": 1,
    "train.num_train_epochs": 2,
    "train.save_steps": 5,
    "train.eval_strategy": "no",
    "train.load_best_model_at_end": False,
}


@pytest.mark.slow
def test_compiled_steps_compile_once_for_every_shape_resume_and_match_eager_steps(tmp_path):
    repo = make_repo(tmp_path / "repo", FEW_SHAPES | {"train.compile": "default"})
    kill_after_checkpoint(repo, 5)  # compiled, killed mid-epoch
    output = run("dvc repro train", repo).stdout
    assert "train: resuming from models/checkpoints/checkpoint-5" in output
    shapes = int(re.search(r"batches an epoch in (\d+) shapes", output).group(1))
    compiled = json.loads((repo / "metrics/train.json").read_text())
    eager_run = retrain(repo, tmp_path / "eager", {"train.compile": "none"})  # the same steps, uncompiled
    eager = json.loads((eager_run / "metrics/train.json").read_text())
    # one graph for every shape in the resumed run: symbolic rows and lengths, no graph break, no recompiling
    assert shapes > 1 and compiled["compiled_graphs"] == 1
    assert compiled["compile_seconds"] > 0 and compiled["steps"] == eager["steps"]
    # Inductor fuses and reorders float operations: the same steps, not the same bits
    assert abs(compiled["train_loss"] - eager["train_loss"]) < 1e-3 * eager["train_loss"]
    # Inductor's caches where docs/training.md says: the user's cache directory, not torch's default under /tmp
    assert compile_cache() == Path(platformdirs.user_cache_dir("summarization")) / "torchinductor"
    assert any((compile_cache() / "fxgraph").iterdir()), "no compiled graph in the user's cache directory"
