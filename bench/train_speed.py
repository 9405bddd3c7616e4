"""Training speed: the published recipe's path beside ours, in one run on the same data.

The model is t5-small-shaped (the checkpoint's config with fresh weights: speed does not depend on them).
The data is an XSum-sized epoch of real text through the real tokenizer, cut to lengths that follow
XSum's, replayed as bench.replay says. Each row of the table adds one change to the row above it: the first is
the recipe, then what the train stage does with params.yaml's defaults, then (`--max-tokens`) each lever of the
fast path in turn: token budgets, length buckets, dataloader workers (GPU), torch.compile (`--compile`).

    python -m bench.train_speed                       # CPU-sized: a few batches that stand for an epoch
    python -m bench.train_speed --train-batches 0     # a whole XSum-sized epoch, on a GPU
    python -m bench.train_speed --max-tokens 32768 --compile --profile --peak-tflops 989  # the fast path, on a GPU
"""

import argparse
import sys
from dataclasses import replace

import torch

from bench import replay
from bench.common import Run, cumulative, make_corpus, run_tables, save
from bench.replay import TrainSetup, replay_training
from summarization import modeling, training

NAME = "train"
OPTIONS = replay.OPTIONS + [
    (
        ("--max-tokens",),
        {
            "type": int,
            "help": "add the fast path's rows, with batches of at most this many padded source tokens "
            "(train.max_tokens_per_batch)",
        },
    ),
    (("--length-buckets",), {"type": int, "default": 8, "help": "the fast path's train.length_buckets"}),
    (("--compile",), {"action": "store_true", "help": "add the fast path's torch.compile rows (slow on a CPU)"}),
    (
        ("--profile",),
        {
            "action": "store_true",
            "help": "profile the timed steps of the train stage's defaults and of the fast path (torch.profiler), "
            "beside the output",
        },
    ),
    (("--peak-tflops",), {"type": float, "help": "the device's dense peak, for the model FLOPs utilization (MFU)"}),
]


def train_setups(
    run: Run, compile_: bool = False, max_tokens: int | None = None, length_buckets: int = 8
) -> list[TrainSetup]:
    """The recipe, a row for each of the train stage's choices, then each lever of the fast path in turn."""
    cuda = torch.cuda.is_available()
    recipe = TrainSetup(
        "recipe: random batches padded to the longest, eager attention, AdamW",
        "random",
        "recipe",
        "eager",
        "adamw_torch",
        "fp16" if cuda else "fp32",
    )
    ours = TrainSetup(
        "ours",
        training.sampling_strategy(run.train),
        "buckets",
        run.train.attention,
        run.train.optim,
        modeling.resolve_precision(run.train.precision),
    )
    rows = cumulative(
        recipe,
        ours,
        [
            ("+ length-grouped batches, padded to a multiple of 8", ("sampling", "collator")),
            ("+ SDPA attention", ("attention",)),
            (f"+ {ours.optim}", ("optim",)),
            (f"+ {ours.precision} autocast: the train stage's defaults", ("precision",)),
        ],
    )
    if max_tokens is None:
        return rows
    # The fast path's levers, each added to the row above: the train stage's params, and on a GPU its loading
    levers = [
        (f"+ batches of ≤ {max_tokens:,} tokens (train.max_tokens_per_batch)", {"max_tokens": max_tokens}),
        (f"+ {length_buckets} length buckets (train.length_buckets)", {"length_buckets": length_buckets}),
        ("+ dataloader workers, pinned memory, non-blocking copies", {"workers": True}),
        ("+ torch.compile (train.compile: default)", {"compile": "default"}),
        ("+ CUDA graphs (train.compile: reduce-overhead)", {"compile": "reduce-overhead"}),
    ]
    for name, change in levers[: 3 if cuda else 2] + levers[3 : 3 + (1 + cuda) * compile_]:
        rows.append(replace(rows[-1], name=name, **change))
    return rows


def utilization(result: dict, peak_tflops: float | None) -> dict:
    return {"mfu": round(result["useful_tflops"] / peak_tflops, 3)} if peak_tflops else {}


def measure(report: dict, run: Run, options: argparse.Namespace) -> None:
    """The training table: the recipe, the train stage's defaults, then each lever of the fast path asked for;
    the train stage's defaults and the whole fast path profiled with --profile."""
    corpus = make_corpus(run, options.epoch_rows, options.seed)
    setups = train_setups(run, options.compile, options.max_tokens, options.length_buckets)
    profiled = {len(train_setups(run)) - 1, len(setups) - 1}  # the train stage's defaults, the whole fast path
    for number, setup in enumerate(setups):
        profiling = options.profile and number in profiled
        profile = options.output.with_name(f"{options.output.stem}-profile-{number}.txt") if profiling else None
        result = replay_training(setup, run, corpus, f"train-{number}", options.train_batches, options.seed, profile)
        report[NAME].append(result | utilization(result, options.peak_tflops))
        save(report, options.output)


def layout(options: argparse.Namespace) -> tuple[str, int, dict[str, str]]:
    columns = {
        "samples_per_second": "samples/s",
        "useful_tokens_per_second": "useful tokens/s",
        "padded_tokens_per_second": "padded tokens/s",
        "epoch_padding_share": "padding",
        "epoch_shapes": "shapes",
        "epoch_seconds": "epoch s",
        "peak_memory_mib": "peak MiB",
        "speedup": "× recipe",
    }
    if options.peak_tflops:
        columns |= {"useful_tflops": "useful TFLOP/s", "mfu": "MFU"}
    return f"training ({options.epoch_rows:,}-row epoch)", options.epoch_rows, columns


if __name__ == "__main__":
    run_tables(__doc__, [sys.modules[__name__]], "train-")
