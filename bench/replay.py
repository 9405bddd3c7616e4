"""Training steps replayed on an epoch's batches, as the training-speed and memory tables time them: each setup
batches an XSum-sized epoch its way (transformers' own samplers, or the train stage's token-budget sampler) and is
timed on batches picked at evenly spaced quantiles of padded length, so a CPU measures a few batches that stand for
the epoch (`--train-batches 0` times all of them), each setup in a fresh process, so that peak memory is its own."""

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import AutoConfig, DataCollatorForSeq2Seq, PrinterCallback, TrainerCallback
from transformers.trainer_pt_utils import get_length_grouped_indices

from bench.common import (
    RECIPE_BATCH_SIZE,
    XSUM_ROWS,
    Corpus,
    Run,
    chunks,
    flatten,
    fresh_model,
    in_fresh_process,
    peak_memory,
    synchronized_clock,
    timed,
)
from summarization import adapters, data, tokenizing, training
from summarization.batching import BucketCollator, Shapes, TokenBudgetSampler

# Untimed steps first (CUDA's context and kernel choice; torch.compile compiles at the first two shapes).
WARMUP_STEPS = 2
# The options of the tables that replay training (run_tables)
OPTIONS = [
    (("--epoch-rows",), {"type": int, "default": XSUM_ROWS["train"], "help": "rows of the training epoch"}),
    (("--train-batches",), {"type": int, "default": 6, "help": "batches timed per training setup (0: all)"}),
]


@dataclass(frozen=True)
class TrainSetup:
    name: str
    sampling: str  # random (the recipe's RandomSampler) or group_by_length (Trainer's LengthGroupedSampler)
    collator: str  # recipe (DataCollatorForSeq2Seq: the longest row) or buckets (the train stage's BucketCollator)
    attention: str
    optim: str
    precision: str
    compile: str = "none"  # train.compile
    lora_r: int | None = None
    gradient_checkpointing: bool = False
    max_tokens: int | None = None  # train.max_tokens_per_batch: batches of up to this many padded source tokens
    length_buckets: int | None = None  # train.length_buckets
    workers: bool = False  # the train stage's loading on a GPU: worker processes, pinned memory, non-blocking copies

    def shapes(self, run: "Run", corpus: "Corpus") -> Shapes:
        cfg = run.train.model_copy(
            update={"max_tokens_per_batch": self.max_tokens, "length_buckets": self.length_buckets}
        )
        return Shapes.of(cfg, corpus.source_lengths, corpus.target_lengths)


def train_batches(setup: TrainSetup, shapes: Shapes, corpus: Corpus, seed: int) -> list[list[int]]:
    """An epoch's batches as the setup draws them: token-budget batches as the train stage draws them, or
    transformers' own samplers' rows cut into batches of 16."""
    if setup.max_tokens:
        return list(TokenBudgetSampler(shapes, corpus.source_lengths, corpus.target_lengths, seed))
    generator = torch.Generator().manual_seed(seed)
    lengths = corpus.source_lengths
    order = (
        get_length_grouped_indices(lengths.tolist(), RECIPE_BATCH_SIZE, generator=generator)
        if setup.sampling == "group_by_length"
        else torch.randperm(len(lengths), generator=generator).tolist()
    )
    return chunks(order, RECIPE_BATCH_SIZE)


def batch_shape(setup: TrainSetup, shapes: Shapes, corpus: Corpus, batch: list[int]) -> tuple[int, int, int]:
    """(rows, source, target) of a batch as the setup pads it: the recipe to its longest row, ours to its buckets."""
    if setup.collator == "recipe":
        return len(batch), int(corpus.source_lengths[batch].max()), int(corpus.target_lengths[batch].max())
    return shapes.of_batch(corpus.source_lengths[batch], corpus.target_lengths[batch])


class StepClock(TrainerCallback):
    """The times at which the warm-up steps and the last step end, the GPU's queued work done; with a profiler,
    the timed steps are profiled."""

    def __init__(self, warmup: int, profiler: torch.profiler.profile | None):
        self.warmup, self.profiler = warmup, profiler

    def on_train_begin(self, args, state, control, **kwargs):
        self.marks = [time.perf_counter()]

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in (self.warmup, state.max_steps):
            self.marks.append(synchronized_clock())
            if self.profiler:
                (self.profiler.start if state.global_step == self.warmup else self.profiler.stop)()


class ReplayedBatches(training.SummarizationTrainer):
    """The train stage's Trainer, training on its dataset's rows in order, in batches of the given sizes."""

    def __init__(self, *args, batch_sizes: list[int], collator, **kwargs):
        super().__init__(*args, references=[], save_steps=0, **kwargs)  # save_strategy no: never saves
        ends = np.cumsum(batch_sizes).tolist()
        self.batches = [list(range(end - size, end)) for end, size in zip(ends, batch_sizes, strict=True)]
        self.collator = collator

    def compiled_shapes(self) -> int:
        return len(self.batches)  # at most a shape a batch

    def get_train_dataloader(self) -> DataLoader:
        args = self.args
        return self.accelerator.prepare(
            DataLoader(
                self.train_dataset.select_columns(training.MODEL_COLUMNS),
                batch_sampler=self.batches,
                collate_fn=self.collator,
                num_workers=args.dataloader_num_workers,
                pin_memory=args.dataloader_pin_memory,
                prefetch_factor=args.dataloader_prefetch_factor,
            )
        )


def training_flops(config, source: torch.Tensor, target: torch.Tensor) -> int:
    """Useful FLOPs of a training step on rows of these unpadded lengths: 3 passes (forward, and backward's
    two) of 2 FLOPs a multiply-add, over the projections, the feed-forward layers, attention's two products
    and the output layer. Padding and recomputation are not useful work."""
    d, inner, ff = config.d_model, config.num_heads * config.d_kv, config.d_ff * (3 if config.is_gated_act else 2)
    s, t = source.double(), target.double()
    encoder = config.num_layers * (s * (4 * d * inner + ff * d) + 2 * s * s * inner)
    decoder = (
        config.num_decoder_layers
        * (t * (6 * d * inner + ff * d) + s * 2 * d * inner + 2 * t * t * inner + 2 * t * s * inner)
        + t * d * config.vocab_size
    )
    return int(6 * (encoder + decoder).sum())


def measure_training(
    setup: TrainSetup,
    run: Run,
    split: str,
    batch_sizes: list[int],
    warmup: int,
    shapes: Shapes,
    profile: Path | None = None,
) -> dict:
    """Train on the split's rows in batches of these sizes, the first `warmup` untimed (and profiled, with a path)."""
    tokenizer, model = fresh_model(run, setup.attention)
    model = adapters.with_lora(model, run.train.lora.model_copy(update={"r": setup.lora_r}), run.model)
    collate = (
        DataCollatorForSeq2Seq(tokenizer, model=model)
        if setup.collator == "recipe"
        else BucketCollator(shapes, tokenizer, model)
    )
    profiler = (
        torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]
            + [torch.profiler.ProfilerActivity.CUDA] * torch.cuda.is_available()
        )
        if profile
        else None
    )
    with tempfile.TemporaryDirectory() as output_dir:
        args = training.arguments(
            run.train.model_copy(update={"compile": setup.compile}),
            setup.precision,
            Path(output_dir),
            num_train_epochs=1,
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            eval_strategy="no",
            load_best_model_at_end=False,  # steps alone are timed
            optim=setup.optim,
            activation_checkpointing=setup.gradient_checkpointing,
            **training.loading(cpu=not (setup.workers and torch.cuda.is_available())),
        )
        trainer = ReplayedBatches(
            model=model,
            args=args,
            processing_class=tokenizer,
            shapes=shapes,
            train_dataset=data.read_dataset(run.data_dir, split),
            batch_sizes=batch_sizes,
            collator=collate,
        )
        if setup.collator == "recipe":
            trainer.compute_loss_func = None  # the model's own loss, as the recipe trains
        clock = StepClock(warmup, profiler)
        trainer.add_callback(clock)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        model.save_pretrained(output_dir)  # what the train stage writes: the model, or the adapter alone
        saved_bytes = sum(path.stat().st_size for path in Path(output_dir).glob("*.safetensors"))
    start, warm, end = clock.marks
    steps = len(batch_sizes) - warmup
    result = {
        "seconds": round(end - warm, 3),
        "warmup_seconds": round(warm - start, 2),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "saved_mib": round(saved_bytes / 2**20, 1),
        **peak_memory(),
    }
    if setup.compile != "none":
        result |= training.compilation()
    if profiler:
        result |= profile_summary(profiler, steps, end - warm, profile)
    return result


def profile_summary(profiler: torch.profiler.profile, steps: int, seconds: float, path: Path) -> dict:
    """Where a step's time goes: its wall time against the time the device spent in kernels (a step whose
    kernels take a fraction of its wall time waits on the host), and the top operators, written to `path`."""
    events = profiler.key_averages()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    path.write_text(events.table(sort_by=f"self_{device}_time_total", row_limit=25, max_name_column_width=60))
    kernels = sum(event.self_device_time_total for event in events) / 1e3 / steps if device == "cuda" else None
    return {
        "step_ms": round(1e3 * seconds / steps, 2),
        "device_busy_ms": kernels and round(kernels, 2),
        "profile": path.name,
    }


def replay_training(
    setup: TrainSetup, run: Run, corpus: Corpus, split: str, count: int, seed: int, profile: Path | None = None
) -> dict:
    """Draw the epoch's batches as the setup does, time `count` of them standing for it (measure_training, in a
    fresh process), after untimed ones: one of each shape the timed ones have when compiled (each compiles at its
    first), else the first WARMUP_STEPS."""
    shapes = setup.shapes(run, corpus)
    epoch = train_batches(setup, shapes, corpus, seed)
    batches = timed(epoch, count, corpus.source_lengths)

    def shape(batch: list[int]) -> tuple[int, int, int]:
        return batch_shape(setup, shapes, corpus, batch)

    warmup = (
        list({shape(batch): batch for batch in batches}.values()) if setup.compile != "none" else batches[:WARMUP_STEPS]
    )
    data.write_split(corpus.rows(flatten(warmup + batches)).to_batches(), data.TOKENIZED_SCHEMA, run.data_dir, split)
    result = in_fresh_process(
        measure_training, setup, run, split, [len(batch) for batch in warmup + batches], len(warmup), shapes, profile
    )
    config = tokenizing.from_checkpoint(AutoConfig, run.model, "config")
    rows, useful, padded, flops, seconds = 0, 0, 0, 0, result["seconds"]
    for batch in batches:
        rows += len(batch)
        useful += int(corpus.source_lengths[batch].sum())
        padded += math.prod(shape(batch)[:2])
        flops += training_flops(
            config, torch.from_numpy(corpus.source_lengths[batch]), torch.from_numpy(corpus.target_lengths[batch])
        )
    epoch_shapes = {shape(batch) for batch in epoch}
    epoch_padded = sum(math.prod(shape(batch)[:2]) for batch in epoch)
    return {
        "setup": asdict(setup),
        "rows": rows,
        "steps": len(batches),
        **result,
        "samples_per_second": round(rows / seconds, 3),
        "useful_tokens_per_second": round(useful / seconds, 1),
        "padded_tokens_per_second": round(padded / seconds, 1),
        "useful_tflops": round(flops / seconds / 1e12, 4),
        "epoch_steps": len(epoch),
        "epoch_shapes": len(epoch_shapes),
        "epoch_padding_share": round(1 - int(corpus.source_lengths.sum()) / epoch_padded, 4),
    }
