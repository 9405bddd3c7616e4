"""Memory savers for larger models: the train stage's row (full fine-tuning, params.yaml's defaults) beside LoRA
adapters, activation checkpointing and Adafactor, each replayed on the same batches (bench.replay) in a fresh
process, so that peak memory (CUDA's allocations on a GPU, the process's RSS on a CPU) is its own.

    python -m bench.memory                                    # t5-small-shaped, on a CPU or a GPU
    python -m bench.memory --checkpoint path/to/t5-large      # a larger model's config
"""

import argparse
import sys
from dataclasses import replace

from bench import replay
from bench.common import Run, make_corpus, run_tables, save
from bench.replay import TrainSetup, replay_training
from bench.train_speed import train_setups

NAME = "memory"
OPTIONS = replay.OPTIONS
LORA_RANK = 16  # on peft's default layers for T5: the attention's q and v


def memory_setups(stage: TrainSetup) -> list[TrainSetup]:
    """The train stage's row, and each memory saver in its place."""
    return [
        replace(stage, name="the train stage: full fine-tuning"),
        replace(stage, name="+ activation checkpointing", gradient_checkpointing=True),
        replace(stage, name=f"LoRA r={LORA_RANK} instead", lora_r=LORA_RANK),
        replace(
            stage, name=f"LoRA r={LORA_RANK} + activation checkpointing", lora_r=LORA_RANK, gradient_checkpointing=True
        ),
        replace(stage, name="full fine-tuning with Adafactor instead", optim="adafactor"),
    ]


def measure(report: dict, run: Run, options: argparse.Namespace) -> None:
    """The memory table: the train stage's defaults beside the memory savers."""
    corpus = make_corpus(run, options.epoch_rows, options.seed)
    for number, setup in enumerate(memory_setups(train_setups(run)[-1])):
        result = replay_training(setup, run, corpus, f"memory-{number}", options.train_batches, options.seed)
        report[NAME].append(result)
        save(report, options.output)


def layout(options: argparse.Namespace) -> tuple[str, int, dict[str, str]]:
    columns = {
        "samples_per_second": "samples/s",
        "epoch_seconds": "epoch s",
        "trainable_parameters": "trained weights",
        "saved_mib": "saved MiB",
        "peak_memory_mib": "peak MiB",
        "speedup": "× full",
    }
    return f"memory savers ({options.epoch_rows:,}-row epoch)", options.epoch_rows, columns


if __name__ == "__main__":
    run_tables(__doc__, [sys.modules[__name__]], "memory-")
