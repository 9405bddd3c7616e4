"""The host's side of a training run, on the CPU, each row a ratio measured in one run: compiling the training
step for 1, 8 and 16 batch shapes, cold (an empty compile cache) and warm (a re-run, from the cache); the host's
time a step through the train stage's Trainer beside a bare compiled loop, with a near-free model step; and page
faults and time a step with glibc's allocator as it comes and as the train stage sets it.

    python -m bench.host [--smoke]
"""

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import PrinterCallback, T5Config, T5ForConditionalGeneration, TrainerCallback

from bench.common import save
from bench.replay import StepClock
from summarization import environment, modeling, training
from summarization.batching import BucketCollator, Shapes
from summarization.cli import run_command
from summarization.config import load_params
from summarization.markup import markdown_table

# The recommended XSum profile (make xsum-recommended: 32,768 tokens a batch, 8 length buckets): BENCHMARKS.md's
# epoch table, counted by bench.epoch from batching.epoch_shapes
XSUM_SHAPES, XSUM_STEPS = 16, 3_305
NEAR_FREE = {
    "d_model": 8,
    "d_ff": 32,
    "d_kv": 1,
    "num_heads": 8,
    "num_layers": 6,
    "vocab_size": 128,
}  # t5-small's topology
ROWS = 16


def near_free_model(layers: int = NEAR_FREE["num_layers"]) -> T5ForConditionalGeneration:
    """t5-small's layers and heads at width 8 and a vocabulary of 128: a step of almost no arithmetic, so what a step
    costs is the host's work around it."""
    torch.manual_seed(0)
    config = T5Config(
        **NEAR_FREE | {"num_layers": layers}, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1
    )
    model = T5ForConditionalGeneration(config)
    model.set_attn_implementation("eager")  # the train stage's default
    return model


def embedded_model() -> T5ForConditionalGeneration:
    """params.yaml's embedded model at its full vocabulary: what `make repro` trains on the CPU."""
    cfg = load_params().model.embedded
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(modeling.embedded_config(cfg, Tokens(cfg.vocab_size)))
    model.set_attn_implementation("eager")
    return model


def batch_rows(shapes: list[tuple[int, int]], steps: int, vocab: int) -> datasets.Dataset:
    """ROWS rows for each of `steps` batches, the batches cycling through (source, target) lengths: one batch shape
    each, as BucketCollator pads them (every row of a batch as long as its shape)."""
    rng = np.random.default_rng(0)
    lengths = [shapes[step % len(shapes)] for step in range(steps) for _ in range(ROWS)]
    return datasets.Dataset.from_dict(
        {
            "input_ids": [rng.integers(3, vocab, source).tolist() for source, _ in lengths],
            "labels": [rng.integers(3, vocab, target).tolist() for _, target in lengths],
        }
    )


def shape_lengths(count: int) -> list[tuple[int, int]]:
    """`count` (source, target) lengths: sources a multiple of 8, targets of two lengths, as length buckets pad them
    (each source length its own, so that the length-grouped sampler keeps each batch to one shape)."""
    return [(32 + 8 * shape, 16 + 8 * (shape % 2)) for shape in range(count)]


class Tokens:
    """What the model's config, BucketCollator and Trainer read of a tokenizer here: its size and special ids."""

    pad_token_id, eos_token_id = 0, 1

    def __init__(self, size: int = NEAR_FREE["vocab_size"]):
        self.size = size

    def __len__(self) -> int:
        return self.size


class FaultClock(TrainerCallback):
    """Minor page faults of this process from the end of the warm-up steps to the end of the last."""

    def __init__(self, warmup: int):
        self.warmup = warmup

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            self.start = minor_faults()
        if state.global_step == state.max_steps:
            self.faults = minor_faults() - self.start


def trainer_run(
    model, dataset: datasets.Dataset, compile: str, warmup: int, output_dir: str, *callbacks, trainer_class=None
):
    """The train stage's Trainer (params.yaml's train section, length-grouped batches of ROWS rows) on `dataset`; the
    times at which it began, ended its warm-up steps and ended. `trainer_class`: a variant of it."""
    cfg = load_params().train.model_copy(
        update={"compile": compile, "per_device_train_batch_size": ROWS, "eval_strategy": "no"}
    )
    args = training.arguments(
        cfg,
        "fp32",
        Path(output_dir),
        max_steps=len(dataset) // ROWS,
        save_strategy="no",
        disable_tqdm=True,
        load_best_model_at_end=False,
    )
    trainer = (trainer_class or training.SummarizationTrainer)(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=Tokens(),
        shapes=Shapes(None, None, None),
        references=[],
        save_steps=cfg.save_steps,
    )
    trainer.remove_callback(PrinterCallback)
    clock = StepClock(warmup, None)
    for callback in (clock, *callbacks):
        trainer.add_callback(callback)
    trainer.train()
    return clock.marks


def trainer_ms_a_step(model, dataset, compile: str, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as output_dir:
        _, warm, end = trainer_run(model, dataset, compile, warmup, output_dir)
    return 1000 * (end - warm) / (len(dataset) // ROWS - warmup)


def bare_ms_a_step(model, dataset, compile: str, warmup: int) -> float:
    """A bare loop, compiled as the Trainer compiles: forward, the train stage's loss, backward, fused AdamW, and
    nothing else."""
    compiled = model if compile == "none" else torch.compile(model, mode=compile)
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    collate = BucketCollator(Shapes(None, None, None), Tokens(), model)
    batches = [collate(dataset.select(range(start, start + ROWS))) for start in range(0, len(dataset), ROWS)]
    for step, batch in enumerate(batches):
        if step == warmup:
            start = time.perf_counter()
        labels = batch["labels"]
        loss = training.token_mean_loss(compiled(**batch, use_cache=False), labels, (labels != -100).sum())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return 1000 * (time.perf_counter() - start) / (len(batches) - warmup)


def host_step(steps: int, layers: int, compile: str) -> dict:
    """The Trainer's ms a step beside a bare loop's, one shape, in this process."""
    warmup = min(10, steps // 2)
    dataset = batch_rows(shape_lengths(1), steps, NEAR_FREE["vocab_size"])
    trainer = trainer_ms_a_step(near_free_model(layers), dataset, compile, warmup)
    bare = bare_ms_a_step(near_free_model(layers), dataset, compile, warmup)
    return {
        "compile": compile,
        "trainer_ms": round(trainer, 2),
        "bare_ms": round(bare, 2),
        "ratio": round(trainer / bare, 2),
    }


def compile_run(shapes: int, cache: str, layers: int) -> dict:
    """Train one step of each of `shapes` shapes through the train stage's Trainer, compiled, with Inductor's caches
    in `cache` (run in a fresh process: what dynamo compiled stays in its process)."""
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    dataset = batch_rows(shape_lengths(shapes), shapes, NEAR_FREE["vocab_size"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as output_dir:
        trainer_run(near_free_model(layers), dataset, "default", 0, output_dir)
    return {"seconds": round(time.perf_counter() - start, 1), **training.compilation()}


def allocator_run(keep: bool, steps: int) -> dict:
    """ms and page faults a step of the embedded model through the Trainer, eager, in a fresh process: glibc as it
    comes, or told to keep freed memory as the train stage tells it."""
    if keep:
        environment.keep_freed_memory()
    model = embedded_model()
    dataset = batch_rows([(256, 32)], steps, model.config.vocab_size)
    warmup = min(3, steps // 2)
    with tempfile.TemporaryDirectory() as output_dir:
        faults = FaultClock(warmup)
        _, warm, end = trainer_run(model, dataset, "none", warmup, output_dir, faults)
    return {"ms": round(1000 * (end - warm) / (steps - warmup), 1), "faults": round(faults.faults / (steps - warmup))}


def in_fresh_process(function, *args) -> dict:
    """Run in a new interpreter (spawned: no state of this one). Not bench/common's, whose children fork from a
    server: there glibc's allocator as it comes counted 1,277 page faults a step under `make test`, against ~18,000 in
    a fresh process, and the allocator rows compare a fresh process's."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes, no compile rows: a minute (tests)")
    parser.add_argument(
        "--layers",
        type=int,
        default=NEAR_FREE["num_layers"],
        help="layers of the near-free model on each side (t5-small's: %(default)s; fewer compile faster)",
    )
    parser.add_argument("--output", type=Path, default=Path("bench/results/host-cpu.json"))
    options = parser.parse_args()
    # --smoke: the host step (uncompiled) and the allocator rows in a minute; no compile rows, a minute each even
    # cold at one shape (tests/test_compile.py compiles through the train stage, from the cache where docs say)
    counts, layers = ((), 1) if options.smoke else ((1, 8, XSUM_SHAPES), options.layers)
    report = {
        "machine": environment.describe("fp32", 1),
        "load_average": os.getloadavg(),
        "layers": layers,
        "compile": [],
    }
    for shapes in counts:
        with tempfile.TemporaryDirectory() as cache:
            cold = in_fresh_process(compile_run, shapes, cache, layers)
            warm = in_fresh_process(compile_run, shapes, cache, layers)
        report["compile"].append({"shapes": shapes, "cold": cold, "warm": warm})
        save(report, options.output)
    report["host_step"] = (
        in_fresh_process(host_step, 4, 1, "none")
        if options.smoke
        else in_fresh_process(host_step, 60, layers, "default")
    )
    save(report, options.output)
    steps = 6 if options.smoke else 12  # the smoke run too measures steps after the allocator has warmed up
    report["allocator"] = {
        setting: in_fresh_process(allocator_run, setting == "kept", steps) for setting in ("glibc", "kept")
    }
    report["load_average_after"] = os.getloadavg()
    save(report, options.output)
    print(markdown(report))
    print(f"wrote {options.output}")


def markdown(report: dict) -> str:
    """One table: each row a measure, the two settings it compares, and their ratio."""
    rows, compiled = [], report["compile"]  # none in a --smoke run
    for row in compiled:
        one = compiled[0]["cold"]["compile_seconds"]  # a shape's: read in the loop, as there may be no row
        cold, warm = row["cold"]["compile_seconds"], row["warm"]["compile_seconds"]
        rows.append(
            [
                f"compile seconds, {row['shapes']} shape(s): cold (empty cache) / warm (a re-run)",
                cold,
                warm,
                f"warm {warm / cold:.0%} of cold; cold {cold / one:.2f}x one shape's",
            ]
        )
    host = report["host_step"]
    epoch = f"an XSum epoch's {XSUM_STEPS:,} steps: {XSUM_STEPS * host['trainer_ms'] / 1000:.0f} s"
    rows.append(
        [
            "host ms a step: the Trainer / a bare compiled loop",
            host["trainer_ms"],
            host["bare_ms"],
            f"{host['ratio']}x ({epoch})",
        ]
    )
    glibc, kept = report["allocator"]["glibc"], report["allocator"]["kept"]
    rows.append(["page faults a step (embedded model): glibc as it comes / kept", glibc["faults"], kept["faults"], ""])
    rows.append(
        [
            "ms a step (embedded model): glibc as it comes / kept",
            glibc["ms"],
            kept["ms"],
            f"{glibc['ms'] / kept['ms']:.2f}x faster",
        ]
    )
    return markdown_table(["measure", "A", "B", "ratio"], rows)


if __name__ == "__main__":
    run_command(main)
