"""Larger models through the real pipeline: LoRA adapters over a tiny T5 with the real t5-small tokenizer, on
real XSum rows from files, train, resume, evaluate and make a small output (test_architectures.py trains
BART's with activation checkpointing and Adafactor); FSDP is refused on CPUs."""

import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from conftest import PROJECT, XSUM_SAMPLE, make_repo, needs_fixtures, run
from helpers import kill_after_checkpoint, tiny_t5_dir
from summarization import modeling, training
from summarization.config import load_params
from summarization.errors import UserError

# Ten real XSum rows as every split, and short sequences: 20 steps of 2 rows, an evaluation each epoch.
XSUM_FILES = {
    "fetch.source": "files",
    "fetch.files.train": str(XSUM_SAMPLE),
    "fetch.files.validation": str(XSUM_SAMPLE),
    "fetch.files.test": str(XSUM_SAMPLE),
    "preprocess.max_source_length": 256,
    "preprocess.max_target_length": 32,
    "train.per_device_train_batch_size": 2,
    "train.logging_steps": 5,
    "train.num_train_epochs": 4,
    "train.generation_max_length": 8,
    "evaluate.generation_max_length": 8,
}


def lora_repo(tmp_path, make_checkpoint, overrides: dict):
    """A local checkpoint made by `make_checkpoint`, and a repository training LoRA adapters over it."""
    base = tmp_path / "base"
    base.mkdir()
    make_checkpoint(base)
    return base, make_repo(
        tmp_path / "repo", XSUM_FILES | {"model.checkpoint": str(base), "train.lora.r": 4} | overrides
    )


def losses(repo) -> list[float]:
    rows = (repo / "dvclive/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    return [float(row.split("\t")[-1]) for row in rows]


@pytest.mark.slow
@needs_fixtures
def test_lora_t5_resumes_evaluates_and_saves_a_small_fraction_of_the_model(tmp_path):
    base, repo = lora_repo(tmp_path, tiny_t5_dir, {})
    kill_after_checkpoint(repo, 5)  # an evaluation and a checkpoint each epoch of 5 steps
    # the stages whose outputs are checked below (pretrained and examples read nothing LoRA changes)
    output = run("dvc repro evaluate baseline export", repo).stdout
    assert "train: resuming from models/checkpoints/checkpoint-" in output
    rouge = json.loads((repo / "metrics/rouge.json").read_text())
    assert rouge["n"] == 10 and json.loads((repo / "metrics/lead1.json").read_text())["rouge1"] > 0
    assert losses(repo)[-1] < losses(repo)[0]  # the resumed part of the curve
    # real XSum rows through the real t5-small tokenizer: their lengths before and after truncation
    lengths = json.loads((repo / "reports/token_lengths.json").read_text())
    data = json.loads((repo / "metrics/data.json").read_text())
    assert lengths["train"]["source_tokens"]["max"] > 256 and data["train"]["source_truncated"] > 0

    output = repo / "models/summarizer"
    assert json.loads((output / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    assert not any(path.suffix in (".bin", ".pt", ".pkl") for path in output.rglob("*"))
    adapter, merged = output / "adapter_model.safetensors", repo / "models/shareable/model.safetensors"
    assert not (output / "model.safetensors").exists() and adapter.stat().st_size < 0.01 * merged.stat().st_size
    # the shareable model is the adapter merged into its base, used with the Auto classes alone
    shareable = repo / "models/shareable"
    ids = AutoTokenizer.from_pretrained(output)("summarize: Profits rose.", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = [
            model.eval()(input_ids=ids, decoder_input_ids=torch.zeros_like(ids)).logits
            for model in (modeling.load_trained(output, "")[1], AutoModelForSeq2SeqLM.from_pretrained(shareable))
        ]
    assert torch.allclose(*logits, atol=1e-5)
    (tmp_path / "article.txt").write_text(json.loads(XSUM_SAMPLE.read_text().splitlines()[0])["document"])
    predictions = {
        entry["id"]: entry["prediction"] for entry in map(json.loads, (repo / "data/predictions.jsonl").open())
    }
    summary = run(f"python -m summarization.summarize {tmp_path / 'article.txt'}", repo).stdout
    assert summary == predictions["test-0"] + "\n"  # the sample has no ids: its rows are numbered


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU, FSDP is allowed")
def test_fsdp_needs_gpus():
    params = load_params(PROJECT / "params.yaml")
    cfg = params.train.model_copy(update={"fsdp": True, "eval_strategy": "no", "load_best_model_at_end": False})
    with pytest.raises(UserError, match="train.fsdp needs CUDA GPUs"):
        training.arguments(cfg, "fp32", PROJECT / "unused")
