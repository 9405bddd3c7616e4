"""Larger models on tiny T5 and BART checkpoints through the real pipeline: LoRA adapters train, resume,
evaluate and make a small output; activation checkpointing and Adafactor train; FSDP is refused on CPUs."""
import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, BartConfig, BartForConditionalGeneration

from conftest import PROJECT, XSUM_SAMPLE, make_repo, needs_fixtures, run
from summarization import modeling, training
from summarization.cli import UserError
from summarization.config import load_params
from test_modeling import tiny_t5_dir
from test_resume import kill_after_checkpoint

# Ten real XSum rows as every split, and short sequences: 20 steps of 2 rows, an evaluation each epoch.
XSUM_FILES = {"fetch.source": "files", "fetch.files.train": str(XSUM_SAMPLE), "fetch.files.validation": str(XSUM_SAMPLE),
              "fetch.files.test": str(XSUM_SAMPLE), "preprocess.max_source_length": 256,
              "preprocess.max_target_length": 32, "train.per_device_train_batch_size": 2, "train.logging_steps": 5,
              "train.num_train_epochs": 4, "train.generation_max_length": 8, "evaluate.generation_max_length": 8}


def tiny_bart_dir(path):
    """A local checkpoint: the real t5-small tokenizer with a tiny BART of random weights."""
    tiny_t5_dir(path)  # the tokenizer files; the T5's config and weights are overwritten below
    config = BartConfig(vocab_size=32101, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=256,
                        pad_token_id=0, bos_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1)
    BartForConditionalGeneration(config).save_pretrained(path)
    return path


def lora_repo(tmp_path, make_checkpoint, overrides: dict):
    """A local checkpoint made by `make_checkpoint`, and a repository training LoRA adapters over it."""
    base = tmp_path / "base"
    base.mkdir()
    make_checkpoint(base)
    return base, make_repo(tmp_path / "repo", XSUM_FILES | {"model.checkpoint": str(base), "train.lora.r": 4} | overrides)


def losses(repo) -> list[float]:
    rows = (repo / "dvclive/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    return [float(row.split("\t")[-1]) for row in rows]


@needs_fixtures
def test_lora_t5_resumes_evaluates_and_saves_a_small_fraction_of_the_model(tmp_path):
    base, repo = lora_repo(tmp_path, tiny_t5_dir, {})
    kill_after_checkpoint(repo, 5)  # an evaluation and a checkpoint each epoch of 5 steps
    assert "train: resuming from models/checkpoints/checkpoint-" in run("dvc repro", repo).stdout
    assert json.loads((repo / "metrics/rouge.json").read_text())["n"] == 10
    assert losses(repo)[-1] < losses(repo)[0]  # the resumed part of the curve

    output = repo / "models/summarizer"
    assert json.loads((output / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    assert not any(path.suffix in (".bin", ".pt", ".pkl") for path in output.rglob("*"))
    adapter, merged = output / "adapter_model.safetensors", repo / "models/shareable/model.safetensors"
    assert not (output / "model.safetensors").exists() and adapter.stat().st_size < 0.01 * merged.stat().st_size
    # the shareable model is the adapter merged into its base, used with the Auto classes alone
    shareable = repo / "models/shareable"
    ids = AutoTokenizer.from_pretrained(output)("summarize: Profits rose.", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = [model.eval()(input_ids=ids, decoder_input_ids=torch.zeros_like(ids)).logits
                  for model in (modeling.load_trained(output, "")[1], AutoModelForSeq2SeqLM.from_pretrained(shareable))]
    assert torch.allclose(*logits, atol=1e-5)
    (tmp_path / "article.txt").write_text(json.loads(XSUM_SAMPLE.read_text().splitlines()[0])["document"])
    predictions = {entry["id"]: entry["prediction"] for entry in map(json.loads, (repo / "data/predictions.jsonl").open())}
    summary = run(f"python -m summarization.summarize {tmp_path / 'article.txt'}", repo).stdout
    assert summary == predictions["test-0"] + "\n"  # the sample has no ids: its rows are numbered


@needs_fixtures
def test_lora_bart_with_activation_checkpointing_and_adafactor(tmp_path):
    _, repo = lora_repo(tmp_path, tiny_bart_dir, {"train.lora.target_modules": "all-linear",
                                                  "train.gradient_checkpointing": True, "train.optim": "adafactor",
                                                  "train.eval_strategy": "no", "train.load_best_model_at_end": False})
    run("dvc repro", repo)
    trainer_arguments = (repo / "dvclive/params.yaml").read_text()
    assert "activation_checkpointing: true" in trainer_arguments and "optim: adafactor" in trainer_arguments
    assert losses(repo)[-1] < losses(repo)[0]
    assert json.loads((repo / "metrics/rouge.json").read_text())["n"] == 10
    assert (repo / "models/summarizer/adapter_model.safetensors").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU, FSDP is allowed")
def test_fsdp_needs_gpus():
    params = load_params(PROJECT / "params.yaml")
    cfg = params.train.model_copy(update={"fsdp": True, "eval_strategy": "no", "load_best_model_at_end": False})
    with pytest.raises(UserError, match="train.fsdp needs CUDA GPUs"):
        training.arguments(cfg, "fp32", PROJECT / "unused")
