"""The GPU path (`python -m pytest -m gpu` on a CUDA machine; skipped without one): the tiny pipeline through
dvc on CUDA in bf16, killed and resumed; the train stage in fp16, and with FlexAttention, whose gradients match
eager attention's; t5-small's shape in fp16."""

import json
import math
import random
import re
from statistics import mean

import datasets
import pyarrow as pa
import pytest
import torch
from test_compile import FEW_SHAPES
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, Seq2SeqTrainer, TrainerCallback, set_seed

from conftest import PROJECT, T5_SMALL, make_repo, run, set_params
from helpers import curves, kill_after_checkpoint, model_cfg
from summarization import corpus, data, modeling, tokenizing, training
from summarization.batching import BucketCollator, Shapes
from summarization.config import load_params

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

# 4 epochs of 20 steps; checkpoint-30 is mid-epoch (as in test_resume.py)
RESUMABLE = {"train.num_train_epochs": 4, "train.save_steps": 30, "train.load_best_model_at_end": False}


def logged_losses(repo) -> list[float]:
    return [float(line.split()[-1]) for line in curves(repo)["loss.tsv"].splitlines()[1:]]


def assert_trained(repo, precision: str, steps: int) -> None:
    environment = json.loads((repo / "reports/environment.json").read_text())
    assert environment["device"] == torch.cuda.get_device_name() and environment["precision"] == precision
    train = json.loads((repo / "metrics/train.json").read_text())
    losses = logged_losses(repo)
    print(f"{precision}: logged losses {losses}, train_loss {train['train_loss']}")
    assert train["steps"] == steps and math.isfinite(train["train_loss"])
    assert all(map(math.isfinite, losses)) and losses[-1] < losses[0] / 2


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """The tiny pipeline on the GPU in train.precision auto, its train stage killed after checkpoint-30, then
    `dvc repro` to the end: the first repro's output too."""
    repo = make_repo(tmp_path_factory.mktemp("gpu") / "repo", RESUMABLE)
    kill_after_checkpoint(repo, 30)
    return repo, run("dvc repro", repo).stdout


def test_pipeline_killed_on_the_gpu_resumes_and_ends_as_an_uninterrupted_run(resumed):
    repo, output = resumed
    assert "train: resuming from models/checkpoints/checkpoint-30" in output
    assert_trained(repo, "bf16" if torch.cuda.is_bf16_supported() else "fp16", 80)
    rouge = json.loads((repo / "metrics/rouge.json").read_text())
    assert rouge["n"] == 24 and 0 < rouge["rouge1"] <= 100
    assert (repo / "models/shareable/model.safetensors").is_file()
    resumed_losses = logged_losses(repo)
    run("dvc repro --force --single-item train", repo)  # the same params, uninterrupted
    uninterrupted = logged_losses(repo)
    print(f"resumed {resumed_losses}\nuninterrupted {uninterrupted}")
    # CUDA's kernels need not add in the same order twice (atomics in the embedding's backward): close, not equal
    assert uninterrupted == pytest.approx(resumed_losses, rel=0.02)


def test_train_stage_in_fp16_gives_a_finite_falling_loss(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.precision": "fp16"})
    run("dvc repro train", repo)
    assert_trained(repo, "fp16", 160)


def test_flex_attention_gradients_equal_eager_ones():
    """FlexAttention's backward pass (the CPU has none; test_modeling.py checks its forward there) on padded rows of
    several lengths: every weight's gradient, the relative position bias tables' too, against eager attention's."""
    stories = [corpus.story(random.Random(n)) for n in range(8)]
    documents, summaries = [document for document, _ in stories], [summary for _, summary in stories]
    tokenizer = tokenizing.build_embedded_tokenizer(
        pa.table({"document": documents, "summary": summaries}).to_batches(), "summarize: ", 500
    )
    cfg = model_cfg(
        embedded=load_params(PROJECT / "params.yaml").model.embedded.model_copy(
            update={"d_model": 64, "d_ff": 128, "num_heads": 2}
        )
    )
    batch = tokenizer.pad(
        {"input_ids": data.encode_documents(tokenizer, documents, "summarize: ", 96).to_pylist()}, return_tensors="pt"
    )
    labels = tokenizer.pad(
        {"input_ids": data.encode_documents(tokenizer, summaries, "", 32).to_pylist()}, return_tensors="pt"
    )["input_ids"]
    batch["labels"] = labels.masked_fill(labels == tokenizer.pad_token_id, -100)
    losses, gradients = {}, {}
    for attention in ("eager", modeling.training_attention("flex")):
        set_seed(0)
        model = modeling.load_model(cfg, tokenizer, attention).cuda().train()  # fp32; dropout_rate 0
        with modeling.attention_registered():  # as SummarizationTrainer.train runs its steps
            loss = model(**batch.to("cuda")).loss
            loss.backward()
        losses[attention] = loss.item()
        gradients[attention] = {name: weight.grad for name, weight in model.named_parameters()}
    errors = {
        name: ((gradients["flex"][name] - eager).norm() / eager.norm()).item()
        for name, eager in gradients["eager"].items()
    }
    bias = [name for name in errors if "relative_attention_bias" in name]
    print(
        f"loss: eager {losses['eager']:.7f}, flex {losses['flex']:.7f}; largest relative gradient difference "
        f"{max(errors.values()):.2e} ({max(errors, key=errors.get)}); "
        f"position bias tables {[errors[name] for name in bias]}"
    )
    assert len(bias) == 2 and all(gradients["eager"][name].abs().sum() > 0 for name in bias)  # encoder's and decoder's
    assert losses["flex"] == pytest.approx(losses["eager"], rel=1e-5)
    assert max(errors.values()) < 1e-4


def test_train_stage_with_flex_attention_gives_a_finite_falling_loss(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.attention": "flex"})  # the embedded model has no dropout
    run("dvc repro train", repo)
    assert_trained(repo, "bf16" if torch.cuda.is_bf16_supported() else "fp16", 160)


@pytest.mark.skipif(T5_SMALL is None, reason="needs the t5-small tokenizer and config (../shared or the GPU kit)")
def test_t5_small_shape_trains_200_fp16_steps_without_a_non_finite_loss(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(T5_SMALL)
    set_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(T5_SMALL))  # fresh weights
    stories = [corpus.story(random.Random(n)) for n in range(200 * 16)]
    rows = datasets.Dataset(
        pa.table(
            {
                "input_ids": data.encode_documents(
                    tokenizer, [document for document, _ in stories], "summarize: ", 1024
                ),
                "labels": data.encode_documents(tokenizer, [summary for _, summary in stories], "", 128),
            }
        )
    )
    args = training.arguments(
        load_params(PROJECT / "params.yaml").train,
        "fp16",
        tmp_path,
        max_steps=200,
        per_device_train_batch_size=16,
        learning_rate=5e-4,
        logging_steps=1,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=rows,
        processing_class=tokenizer,
        data_collator=BucketCollator(Shapes(None, None, None), tokenizer, model),
    )
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    print(f"t5-small shape, fp16: loss {losses[0]:.3f} at step 1, {losses[-1]:.3f} at step 200")
    assert len(losses) == 200 and all(map(math.isfinite, losses))
    assert mean(losses[-20:]) < mean(losses[:20])


class NoWaitingForTheGPU(TrainerCallback):
    """Makes anything that waits for the GPU an error (torch.cuda.set_sync_debug_mode) from the third step's start
    to the last step's end: loading, forward, backward, clipping, the optimizer, the scheduler, the callbacks."""

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 2:  # after the first steps: allocation, kernel choice, compilation
            torch.cuda.set_sync_debug_mode("error")

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == state.max_steps:  # Trainer reads the loss after the loop
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("compile_mode", ["none", "reduce-overhead"])
def test_training_steps_between_logs_never_wait_for_the_gpu(tmp_path, compile_mode):
    repo = make_repo(tmp_path / "repo")
    run("python -m stages.fetch && python -m stages.preprocess", repo)
    params = load_params(repo / "params.yaml")
    cfg = params.train.model_copy(
        update={
            "max_tokens_per_batch": 2048,
            "length_buckets": 2,
            "compile": compile_mode,
            "logging_steps": 10_000,
            "eval_strategy": "no",
            "load_best_model_at_end": False,
        }
    )
    train_split = data.read_dataset(repo / "data/tokenized", "train")
    tokenizer = AutoTokenizer.from_pretrained(repo / "data/tokenized/tokenizer")
    model = modeling.load_model(params.model, tokenizer, cfg.attention)
    args = training.arguments(cfg, modeling.resolve_precision("auto"), tmp_path / "checkpoints", save_strategy="no")
    trainer = training.SummarizationTrainer.of_params(
        cfg, model=model, args=args, train_dataset=train_split, processing_class=tokenizer
    )
    trainer.add_callback(NoWaitingForTheGPU)
    result = trainer.train()
    assert result.global_step > 10


def test_cuda_graphs_with_dynamic_shapes_compile_once_for_every_shape_to_eager_losses(tmp_path):
    """reduce-overhead: one graph of symbolic rows and lengths for every batch shape, a CUDA graph recorded for each."""
    repo = make_repo(tmp_path / "repo", FEW_SHAPES | {"train.length_buckets": 3})
    run("python -m stages.fetch && python -m stages.preprocess && python -m stages.train", repo)
    eager = json.loads((repo / "metrics/train.json").read_text())
    set_params(repo, {"train.compile": "reduce-overhead"})
    output = run("python -m stages.train", repo).stdout
    compiled = json.loads((repo / "metrics/train.json").read_text())
    assert int(re.search(r"batches an epoch in (\d+) shapes", output).group(1)) > 2
    assert compiled["compiled_graphs"] == 1 and compiled["steps"] == eager["steps"]
    assert abs(compiled["train_loss"] - eager["train_loss"]) < 2e-2 * eager["train_loss"]  # bf16: fused, reordered
