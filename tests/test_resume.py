"""A train stage killed mid-run resumes from its last checkpoint and ends with the same model and ROUGE."""
import os
import signal
import subprocess
import time

from conftest import PROJECT, activated_environment, make_repo, run
from test_pipeline import lock_hashes
from summarization import checkpoints
from summarization.config import load_params

PARAMS = load_params(PROJECT / "params.yaml")


def kill_after_first_checkpoint(repo) -> None:
    """Start `dvc repro` and SIGKILL its whole process group once train has written a checkpoint."""
    # dvc itself, not a shell, is the child: wait() reaps it, so its rwlock entry is seen as dead
    process = subprocess.Popen(["dvc", "repro"], cwd=repo, env=activated_environment(), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list((repo / "models/checkpoints").glob("checkpoint-*/trainer_state.json")):
        assert process.poll() is None, "dvc repro ended before train wrote a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_training_resumes_to_the_same_bytes_as_an_uninterrupted_run(tmp_path):
    repo = make_repo(tmp_path / "repo")
    kill_after_first_checkpoint(repo)
    assert not (repo / "models/summarizer").exists()
    output = run("dvc repro", repo).stdout
    assert "train: resuming from models/checkpoints/checkpoint-" in output
    assert not (repo / "models/checkpoints").exists()  # removed once the final model is written
    resumed, rouge = lock_hashes(repo), (repo / "metrics/rouge.json").read_text()
    output = run("dvc repro --force", repo).stdout  # the same params, every stage again, uninterrupted
    assert "resuming" not in output
    assert lock_hashes(repo) == resumed
    assert set(resumed) == {"data/raw", "data/tokenized", "metrics/data.json", "reports/token_lengths.json", "models/summarizer",
                            "data/predictions.jsonl", "data/summary_lengths.csv", "metrics/rouge.json"}
    assert (repo / "metrics/rouge.json").read_text() == rouge


def test_checkpoints_of_other_params_or_data_are_not_resumed(tmp_path, capsys):
    directory = tmp_path / "checkpoints"
    assert checkpoints.resume_point(directory, "run-a") is None  # nothing to resume: a fresh start
    (directory / "checkpoint-40").mkdir()
    assert checkpoints.resume_point(directory, "run-a") == str(directory / "checkpoint-40")
    assert checkpoints.resume_point(directory, "run-b") is None
    assert "its checkpoints come from other params or data; starting fresh" in capsys.readouterr().out
    assert list(directory.iterdir()) == [directory / checkpoints.FINGERPRINT_FILE]


def test_fingerprint_follows_train_params_and_data(tmp_path):
    data = tmp_path / "train.parquet"
    data.write_bytes(b"rows")
    first = checkpoints.fingerprint(PARAMS, [data])
    assert checkpoints.fingerprint(PARAMS, [data]) == first
    changed = PARAMS.model_copy(update={"train": PARAMS.train.model_copy(update={"learning_rate": 0.5})})
    assert checkpoints.fingerprint(changed, [data]) != first
    data.write_bytes(b"other rows")
    assert checkpoints.fingerprint(PARAMS, [data]) != first
