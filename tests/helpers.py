"""Helpers that several test modules use: tiny local checkpoints, killing `dvc repro` mid-run, the outputs a
run is compared by, and what a colleague does with the shareable model. (conftest.py, loaded first, sets the
offline environment these imports read.)"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, T5Config, T5ForConditionalGeneration

from conftest import PROJECT, T5_TOKENIZER, activated_environment, run_stages, set_params
from summarization.config import load_params
from summarization.data import file_digest

PARAMS = load_params(PROJECT / "params.yaml")


def model_cfg(**changes):
    return PARAMS.model.model_copy(update=changes)


def tiny_t5_config(vocab_size: int) -> T5Config:
    """A one-layer T5 with T5's special token ids: a model's whole path in seconds."""
    return T5Config(
        vocab_size=vocab_size,
        d_model=16,
        d_ff=32,
        d_kv=8,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )


def tiny_t5_dir(path, vocab_size=32101):
    """A local checkpoint: the real t5-small tokenizer with a tiny T5 of random weights."""
    for name in ("spiece.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
        shutil.copy(T5_TOKENIZER / name, path / name)
    config = tiny_t5_config(vocab_size)
    T5ForConditionalGeneration(config).save_pretrained(path)
    return path


def kill_when(repo, happened, what: str) -> None:
    """Start `dvc repro` and SIGKILL its whole process group as soon as `happened()`."""
    # dvc itself, not a shell, is the child: wait() reaps it, so its rwlock entry is seen as dead
    process = subprocess.Popen(
        ["dvc", "repro"],
        cwd=repo,
        env=activated_environment(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while not happened():
        assert process.poll() is None, f"dvc repro ended before {what}"
        assert time.monotonic() < deadline, f"no {what} in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def kill_after_checkpoint(repo, step: int) -> None:
    # the record of its files is a checkpoint's last (resume.FILES_RECORD)
    kill_when(repo, (repo / f"models/checkpoints/checkpoint-{step}/files.json").exists, f"checkpoint-{step}")


def curves(repo) -> dict[str, str]:
    """DVCLive's training curves (the speed ones, which hold wall-clock times, aside)."""
    directory = repo / "dvclive/plots/metrics"
    return {
        name: (directory / name).read_text()
        for name in (
            "loss.tsv",
            "learning_rate.tsv",
            "grad_norm.tsv",
            "train/loss.tsv",
            "eval/loss.tsv",
            "eval/rougeL.tsv",
        )
    }


# The train stage's outputs as dvc.yaml declares them: its outs and its metrics file
TRAIN_STAGE = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]["train"]
TRAIN_OUTPUTS = [*TRAIN_STAGE["outs"], *(next(iter(metrics)) for metrics in TRAIN_STAGE["metrics"])]
TIMED = ("dvclive", "metrics/train.json")  # they hold wall-clock times (curves() reads dvclive's others)


def trained(repo) -> tuple[dict[str, str], dict[str, str]]:
    """What the train stage wrote in `repo`, file by file, and its curves (those of the evaluations in training
    included: ROUGE on the validation split)."""
    outputs = [repo / name for name in TRAIN_OUTPUTS if name not in TIMED]
    paths = [path for output in outputs for path in [output, *sorted(output.rglob("*"))] if path.is_file()]
    return {str(path.relative_to(repo)): file_digest(path) for path in paths}, curves(repo)


def retrain(repo, copy, overrides: dict | None = None) -> Path:
    """The train stage from the start on `repo`'s data and params (but `overrides`), uninterrupted, as `dvc repro
    --force train` runs it (its outputs removed first): in a copy, in this process (run_stages: seconds cheaper)."""
    shutil.copytree(repo, copy, symlinks=True)
    set_params(copy, overrides or {})
    for name in (*TRAIN_OUTPUTS, "models/checkpoints"):  # a killed run's checkpoints too
        path = copy / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    run_stages(copy, "train")
    return copy


def evaluated_documents(repo) -> dict[str, str]:
    raw = pq.read_table(repo / "data/raw/test.parquet")
    return dict(zip(raw.column("id").to_pylist(), raw.column("document").to_pylist(), strict=True))


def auto_class_summaries(model_dir, documents: list[str]) -> list[str]:
    """What a colleague gets from the model directory with transformers alone: the Auto classes, the
    stored prefix, a document at a time and no generation arguments."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    prefix = model.config.task_specific_params["summarization"]["prefix"]
    return [
        tokenizer.decode(
            model.generate(**tokenizer(prefix + document, truncation=True, return_tensors="pt"))[0],
            skip_special_tokens=True,
        ).strip()
        for document in documents
    ]
