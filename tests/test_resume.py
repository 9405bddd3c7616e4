"""A train stage killed mid-run resumes from its last checkpoint and ends with the same model and ROUGE."""

import json

import pytest

from conftest import make_repo, run
from helpers import PARAMS, kill_after_checkpoint, kill_when, retrain, trained
from summarization import resume
from summarization.data import file_digest


def kill_during_evaluation(repo, step: int) -> None:
    """Kill once the loss of `step` is logged: Trainer logs it, then evaluates, then checkpoints."""
    losses = repo / "dvclive/plots/metrics/loss.tsv"
    kill_when(repo, lambda: losses.exists() and f"\n{step}\t" in losses.read_text(), f"the loss of step {step}")


@pytest.mark.slow
def test_training_killed_mid_epoch_at_an_epoch_end_and_in_an_evaluation_resumes_to_an_uninterrupted_run(tmp_path):
    # 4 epochs of 20 steps, a log and an evaluation every 20: checkpoint-30 is mid-epoch and between two logs,
    # checkpoint-60 ends epoch 3 (checkpoints every save_steps: the best model is not kept here)
    repo = make_repo(
        tmp_path / "repo", {"train.num_train_epochs": 4, "train.save_steps": 30, "train.load_best_model_at_end": False}
    )
    kill_after_checkpoint(repo, 30)
    kill_during_evaluation(repo, 40)  # resumed from checkpoint-30, killed while evaluating epoch 2
    kill_after_checkpoint(repo, 60)  # resumed from checkpoint-30 again
    assert not (repo / "models/summarizer").exists()
    output = run("dvc repro train", repo).stdout
    assert "train: resuming from models/checkpoints/checkpoint-60" in output
    assert not (repo / "models/checkpoints").exists()  # removed once the final model is written
    resumed, uninterrupted = trained(repo), tmp_path / "uninterrupted"  # the same params, from the start
    assert trained(retrain(repo, uninterrupted)) == resumed and "models/summarizer/model.safetensors" in resumed[0]
    train, again = (json.loads((path / "metrics/train.json").read_text()) for path in (repo, uninterrupted))
    assert train["train_loss"] == again["train_loss"] and train["steps"] == again["steps"] == 80
    steps = [int(line.split()[0]) for line in resumed[1]["loss.tsv"].splitlines()[1:]]
    assert steps == [20, 30, 40, 60, 80]  # optimizer steps: each log, each checkpoint


@pytest.mark.slow
@pytest.mark.parametrize(
    "evaluations, evaluated_steps",
    [
        ({"train.eval_strategy": "epoch"}, [20]),  # the recipe's: one evaluation, at the end
        ({"train.eval_strategy": "steps", "train.eval_steps": 8}, [8, 16, 20]),  # save_steps 5 is no multiple of 8
    ],
    ids=["evaluated at the end", "evaluated every 8 steps"],
)
def test_one_epoch_keeping_the_best_killed_mid_epoch_resumes_from_its_last_save_steps(
    tmp_path, evaluations, evaluated_steps
):
    # One epoch of 20 steps keeping the best evaluation's weights (load_best_model_at_end), a checkpoint every 5
    # steps: killed after checkpoint-10, mid-epoch (every 8 steps, the checkpoint of step 8 is kept too, the best so
    # far)
    repo = make_repo(tmp_path / "repo", {"train.num_train_epochs": 1, "train.save_steps": 5} | evaluations)
    kill_after_checkpoint(repo, 10)
    assert "train: resuming from models/checkpoints/checkpoint-10" in run("dvc repro train", repo).stdout
    resumed = trained(repo)
    assert trained(retrain(repo, tmp_path / "uninterrupted")) == resumed
    assert [int(line.split()[0]) for line in resumed[1]["eval/rougeL.tsv"].splitlines()[1:]] == evaluated_steps
    assert "The model has the weights of the best evaluation, step " in (repo / "reports/evaluations.md").read_text()


def whole_checkpoint(directory, step: int, state: str = "{}"):
    """A checkpoint as Trainer leaves it, its files recorded."""
    checkpoint = directory / f"checkpoint-{step}"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text(state)
    resume.record_files(checkpoint)
    return checkpoint


def test_checkpoints_of_other_params_or_data_are_not_resumed(tmp_path, capsys):
    directory = tmp_path / "checkpoints"
    assert resume.resume_point(directory, "run-a") is None  # nothing to resume: a fresh start
    whole_checkpoint(directory, 40)
    (directory / "checkpoint-80").mkdir()  # incomplete: killed while written
    (directory / "checkpoint-80/trainer_state.json").write_text("{}")
    assert resume.resume_point(directory, "run-a") == str(directory / "checkpoint-40")
    assert resume.resume_point(directory, "run-b") is None
    assert "its checkpoints come from other params or data; starting fresh" in capsys.readouterr().out
    assert list(directory.iterdir()) == [directory / resume.FINGERPRINT_FILE]


def test_a_damaged_checkpoint_is_removed_and_the_one_before_resumed(tmp_path, capsys):
    """A file of a whole checkpoint cut short or removed since (a full disk, a hand): the one before it resumes."""
    directory = tmp_path / "checkpoints"
    resume.resume_point(directory, "run")
    whole_checkpoint(directory, 40, '{"global_step": 40}')
    whole_checkpoint(directory, 80, '{"global_step": 80, "log_history": []}')
    (directory / "checkpoint-80/trainer_state.json").write_text('{"global_step": 80, "log_hi')
    (directory / "checkpoint-120").mkdir()  # killed while Trainer wrote it: removed without a word
    assert resume.resume_point(directory, "run") == str(directory / "checkpoint-40")
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning == (
        f"train: warning: {directory}/checkpoint-80 is damaged (trainer_state.json has 27 bytes, written with 38): "
        "removed, the run resumes from the checkpoint before it, or starts fresh if none is whole"
    )
    assert sorted(path.name for path in directory.iterdir()) == ["checkpoint-40", resume.FINGERPRINT_FILE]
    (directory / "checkpoint-40/trainer_state.json").unlink()
    assert resume.resume_point(directory, "run") is None
    assert "checkpoint-40 is damaged (trainer_state.json is missing)" in capsys.readouterr().err


def test_fingerprint_follows_train_params_and_data(tmp_path):
    data = tmp_path / "train.parquet"
    data.write_bytes(b"rows")
    first = resume.fingerprint(PARAMS, [file_digest(data)])
    assert resume.fingerprint(PARAMS, [file_digest(data)]) == first
    changed = PARAMS.model_copy(update={"train": PARAMS.train.model_copy(update={"learning_rate": 0.5})})
    assert resume.fingerprint(changed, [file_digest(data)]) != first
    data.write_bytes(b"other rows")
    assert resume.fingerprint(PARAMS, [file_digest(data)]) != first


@pytest.mark.slow
def test_token_budget_batches_killed_mid_epoch_resume_to_an_uninterrupted_run(tmp_path):
    # 2 epochs of 14 token-budget batches in 7 shapes, a checkpoint every 5 steps: checkpoint-10 is mid-epoch
    repo = make_repo(
        tmp_path / "repo",
        {
            "train.num_train_epochs": 2,
            "train.save_steps": 5,
            "train.max_tokens_per_batch": 2048,
            "train.length_buckets": 4,
            "train.load_best_model_at_end": False,
        },
    )
    kill_after_checkpoint(repo, 10)
    output = run("dvc repro train", repo).stdout
    assert "train: resuming from models/checkpoints/checkpoint-10" in output
    assert "train: 14 batches an epoch in 7 shapes" in output
    assert trained(retrain(repo, tmp_path / "uninterrupted")) == trained(repo)
    assert json.loads((repo / "metrics/train.json").read_text())["steps"] == 28
