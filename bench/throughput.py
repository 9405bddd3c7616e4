"""Training and evaluation throughput: the published recipe's path beside ours, in one run on the same data.

The model is t5-small-shaped (the checkpoint's config with fresh weights: speed does not depend on them).
The data is an XSum-sized epoch of real text through the real tokenizer, cut to lengths that follow
XSum's. Each setup batches the whole epoch its way (transformers' own samplers, or the train stage's
token-budget sampler) and is timed on batches picked at evenly spaced quantiles of padded length, so a CPU
measures a few batches that stand for the epoch; `--train-batches 0 --eval-rows 0` times all of them. Each
row of a table adds one change to the row above it: the first is the recipe, then what the train and
evaluate stages do with params.yaml's defaults, then (`--max-tokens`) each lever of the fast path in turn:
token budgets, length buckets, dataloader workers (GPU), torch.compile (`--compile`). A third table sets the
train stage's row beside the memory savers for larger models: LoRA adapters, activation checkpointing,
Adafactor. Every setup runs in a fresh process, so peak memory is its own.

    python -m bench.throughput                                  # CPU-sized: ~30 minutes on 2 cores
    python -m bench.throughput --train-batches 0 --eval-rows 0  # a whole epoch and evaluation, on a GPU
    python -m bench.throughput --tables memory                  # only LoRA and the memory savers
    python -m bench.throughput --max-tokens 32768 --compile --profile --eval-batch-sizes 256 --peak-tflops 989  # GPU
"""

import argparse
import math
import random
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import DataLoader
from transformers import (
    AutoConfig,
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)
from transformers.trainer_pt_utils import get_length_grouped_indices

from bench.common import XSUM_ROWS, command_line, peak_memory, save
from summarization import adapters, corpus, data, environment, modeling, training
from summarization.batching import BucketCollator, Shapes, TokenBudgetSampler
from summarization.config import Evaluate, Model, Preprocess, Train, load_params
from summarization.generation import generate_summaries, longest_first
from summarization.outputs import markdown_table

# Token lengths of XSum in t5-small's tokenizer: documents log-normal with mean ≈ 530 and one in ten
# beyond 1,024 (so a random batch of 16 is usually padded to the 1,024 cap), one-sentence summaries ≈ 28.
DOCUMENT_MEDIAN, DOCUMENT_SIGMA = 400, 0.75
SUMMARY_MEDIAN, SUMMARY_SIGMA = 27, 0.3
RECIPE_BATCH_SIZE = 16
# Untimed steps first (CUDA's context and kernel choice; torch.compile compiles at the first two shapes).
WARMUP_STEPS = 2
LORA_RANK = 16  # on peft's default layers for T5: the attention's q and v
# Forkserver children (in_fresh_process) run this module again as __mp_main__ after the server imported it.
warnings.filterwarnings("ignore", message="'bench.throughput' found in sys.modules", category=RuntimeWarning)


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


@dataclass(frozen=True)
class EvalSetup:
    name: str
    trainer_predict: (
        bool  # the recipe's Seq2SeqTrainer.predict (fp16 on a GPU): dataset order, a loss pass beside generation
    )
    attention: str
    batch_size: int


@dataclass(frozen=True)
class Corpus:
    """An epoch of rows, kept as lengths and offsets into a token stream until rows are needed."""

    stream: np.ndarray
    prefix: list[int]
    eos: int
    source_lengths: np.ndarray
    target_lengths: np.ndarray
    starts: np.ndarray

    def rows(self, indices: list[int]) -> pa.Table:
        def ids(head: list[int], lengths: np.ndarray) -> pa.Array:
            return pa.array(
                [
                    head + self.stream[start : start + length - len(head) - 1].tolist() + [self.eos]
                    for start, length in zip(self.starts[indices], lengths[indices], strict=True)
                ],
                pa.list_(pa.int32()),
            )

        return pa.table(
            {
                "id": [str(row) for row in indices],
                "input_ids": ids(self.prefix, self.source_lengths),
                "labels": ids([], self.target_lengths),
            }
        )


@dataclass(frozen=True)
class Run:
    data_dir: Path
    model: Model
    preprocess: Preprocess
    train: Train
    evaluate: Evaluate


def make_corpus(run: Run, rows: int, seed: int) -> Corpus:
    """Windows of real text (the embedded corpus's stories, tokenized), prefixed and truncated as preprocess
    does, with lengths drawn from XSum's distributions."""
    tokenizer = modeling.load_tokenizer(run.model)
    stories = [corpus.story(random.Random(seed * 100_000 + n))[0] for n in range(400)]
    stream = np.array(tokenizer(" ".join(stories), add_special_tokens=False, verbose=False)["input_ids"], np.int32)
    prefix = tokenizer(run.preprocess.prefix, add_special_tokens=False)["input_ids"]
    rng = np.random.default_rng(seed)

    def lengths(median: float, sigma: float, head: int, max_length: int) -> np.ndarray:
        return np.minimum(head + rng.lognormal(np.log(median), sigma, rows).round().astype(int) + 1, max_length)

    return Corpus(
        stream,
        prefix,
        tokenizer.eos_token_id,
        lengths(DOCUMENT_MEDIAN, DOCUMENT_SIGMA, len(prefix), run.preprocess.max_source_length),
        lengths(SUMMARY_MEDIAN, SUMMARY_SIGMA, 0, run.preprocess.max_target_length),
        rng.integers(0, len(stream) - run.preprocess.max_source_length, rows),
    )


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


def eval_batches(setup: EvalSetup, lengths: np.ndarray) -> list[list[int]]:
    order = list(range(len(lengths))) if setup.trainer_predict else longest_first(lengths.tolist())
    return chunks(order, setup.batch_size)


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[start : start + size] for start in range(0, len(order), size)]


def batch_shape(setup: TrainSetup, shapes: Shapes, corpus: Corpus, batch: list[int]) -> tuple[int, int, int]:
    """(rows, source, target) of a batch as the setup pads it: the recipe to its longest row, ours to its buckets."""
    if setup.collator == "recipe":
        return len(batch), int(corpus.source_lengths[batch].max()), int(corpus.target_lengths[batch].max())
    return shapes.of_batch(corpus.source_lengths[batch], corpus.target_lengths[batch])


def timed(batches: list[list[int]], count: int, lengths: np.ndarray) -> list[list[int]]:
    """`count` batches at evenly spaced quantiles of padded length (all when count is 0): a few batches whose
    mean cost is the epoch's."""
    if count == 0 or count >= len(batches):
        return batches
    by_cost = sorted(batches, key=lambda batch: (int(lengths[batch].max()), len(batch)))
    return [by_cost[(2 * k + 1) * len(by_cost) // (2 * count)] for k in range(count)]


def flatten(batches: list[list[int]]) -> list[int]:
    return [row for batch in batches for row in batch]


def fresh_model(run: Run, attention: str):
    tokenizer = modeling.load_tokenizer(run.model)
    set_seed(run.train.seed)
    model = modeling.load_model(run.model, tokenizer, attention)
    return tokenizer, model


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


def synchronized_clock() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


class ReplayedBatches(training.SummarizationTrainer):
    """The train stage's Trainer, training on its dataset's rows in order, in batches of the given sizes."""

    def __init__(self, *args, batch_sizes: list[int], collator, **kwargs):
        super().__init__(*args, references=[], save_steps=0, **kwargs)  # save_strategy no: never saves
        ends = np.cumsum(batch_sizes).tolist()
        self.batches = [list(range(end - size, end)) for end, size in zip(ends, batch_sizes, strict=True)]
        self.collator = collator

    def get_train_dataloader(self) -> DataLoader:
        dataset = self._remove_unused_columns(self.train_dataset, description="training")
        args = self.args
        return self.accelerator.prepare(
            DataLoader(
                dataset,
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
        if setup.compile != "none":
            training.compile_each_shape(len(batch_sizes))  # at most a shape a batch
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


def measure_generation(setup: EvalSetup, run: Run, split: str) -> dict:
    tokenizer, model = fresh_model(run, setup.attention)
    rows = data.read_split(run.data_dir, split)
    cfg = run.evaluate
    # Every row gets exactly generation_max_length tokens, in both paths: fresh weights would stop at random.
    model.generation_config.min_length = cfg.generation_max_length

    def summarize(table: pa.Table) -> None:
        if setup.trainer_predict:
            with tempfile.TemporaryDirectory() as output_dir:
                args = Seq2SeqTrainingArguments(
                    output_dir,
                    per_device_eval_batch_size=setup.batch_size,
                    predict_with_generate=True,
                    generation_max_length=cfg.generation_max_length,
                    generation_num_beams=cfg.num_beams,
                    fp16=torch.cuda.is_available(),
                    use_cpu=modeling.device().type == "cpu",
                    report_to="none",
                    disable_tqdm=True,
                )
                trainer = Seq2SeqTrainer(
                    model=model,
                    args=args,
                    processing_class=tokenizer,
                    data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
                )
                trainer.predict(datasets.Dataset(table))
        else:
            generate_summaries(
                model.to(modeling.device()),
                tokenizer,
                table.column("input_ids"),
                setup.batch_size,
                cfg.generation_max_length,
                cfg.num_beams,
            )

    summarize(rows.slice(0, setup.batch_size))  # warm-up, untimed
    start = synchronized_clock()
    summarize(rows)
    seconds = synchronized_clock() - start
    source_tokens = int(data.token_counts(rows.column("input_ids")).sum())
    return {
        "setup": asdict(setup),
        "rows": rows.num_rows,
        "seconds": round(seconds, 2),
        "samples_per_second": round(rows.num_rows / seconds, 3),
        "source_tokens_per_second": round(source_tokens / seconds, 1),
        **peak_memory(),
    }


def in_fresh_process(function, *args) -> dict:
    """Run in a new process forked from a server that imported this module once (imports take seconds)."""
    context = get_context("forkserver")
    context.set_forkserver_preload(["bench.throughput"])  # a no-op once the server runs
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def cumulative(recipe, ours, steps: list[tuple[str, tuple[str, ...]]]) -> list:
    """The recipe, then for each step that changes anything a row taking that step's fields from ours."""
    rows = [recipe]
    for name, fields in steps:
        row = replace(rows[-1], name=name, **{field: getattr(ours, field) for field in fields})
        if replace(row, name="") != replace(rows[-1], name=""):
            rows.append(row)
    return rows


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


def eval_setups(run: Run, batch_sizes: tuple[int, ...] = ()) -> list[EvalSetup]:
    recipe = EvalSetup("recipe: Seq2SeqTrainer.predict, eager attention", True, "eager", RECIPE_BATCH_SIZE)
    ours = EvalSetup("ours", False, "sdpa", run.evaluate.per_device_eval_batch_size)
    rows = cumulative(
        recipe,
        ours,
        [
            ("+ length-sorted generate in fp32, no loss pass", ("trainer_predict",)),
            ("+ SDPA attention", ("attention",)),
            (f"+ batches of {ours.batch_size}", ("batch_size",)),
        ],
    )
    return rows + [
        replace(rows[-1], name=f"the evaluate stage, batches of {size}", batch_size=size) for size in batch_sizes
    ]


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
    config = modeling.from_checkpoint(AutoConfig.from_pretrained, run.model, "config")
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


def utilization(result: dict, peak_tflops: float | None) -> dict:
    return {"mfu": round(result["useful_tflops"] / peak_tflops, 3)} if peak_tflops else {}


def with_ratios(results: list[dict], epoch_rows: int) -> list[dict]:
    baseline = results[0]["samples_per_second"]
    return [
        result
        | {
            "speedup": round(result["samples_per_second"] / baseline, 2),
            "epoch_seconds": round(epoch_rows / result["samples_per_second"]),
        }
        for result in results
    ]


def markdown(title: str, results: list[dict], columns: dict[str, str]) -> str:
    return markdown_table(
        [title, *columns.values()], [[result["setup"]["name"], *(result[key] for key in columns)] for result in results]
    )


def parse_options() -> argparse.Namespace:
    parser = command_line(__doc__)
    parser.add_argument("--epoch-rows", type=int, default=XSUM_ROWS["train"], help="rows of the training epoch")
    parser.add_argument("--evaluation-rows", type=int, default=XSUM_ROWS["validation"], help="rows evaluated")
    parser.add_argument("--train-batches", type=int, default=6, help="batches timed per training setup (0: all)")
    parser.add_argument("--eval-rows", type=int, default=128, help="rows timed per evaluation setup (0: all)")
    parser.add_argument(
        "--max-tokens",
        type=int,
        help="add the fast path's rows, with batches of at most this many "
        "padded source tokens (train.max_tokens_per_batch)",
    )
    parser.add_argument("--length-buckets", type=int, default=8, help="the fast path's train.length_buckets")
    parser.add_argument("--compile", action="store_true", help="add the fast path's torch.compile rows (slow on a CPU)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the timed steps of the train stage's defaults "
        "and of the fast path (torch.profiler), beside the output",
    )
    parser.add_argument(
        "--eval-batch-sizes",
        type=int,
        nargs="*",
        default=[],
        help="add an evaluation row with batches of this many rows, for each",
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="the device's dense peak, for the model FLOPs utilization (MFU)"
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=["train", "evaluate", "memory"],
        default=["train", "evaluate", "memory"],
        help="which tables to measure (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("bench/results") / f"{modeling.device().type}.json")
    return parser.parse_args()


def measure_train(report: dict, run: Run, corpus: Corpus, options: argparse.Namespace) -> None:
    """The training table: the recipe, the train stage's defaults, then each lever of the fast path asked for;
    the train stage's defaults and the whole fast path profiled with --profile."""
    setups = train_setups(run, options.compile, options.max_tokens, options.length_buckets)
    profiled = {len(train_setups(run)) - 1, len(setups) - 1}  # the train stage's defaults, the whole fast path
    for number, setup in enumerate(setups):
        profiling = options.profile and number in profiled
        profile = options.output.with_name(f"{options.output.stem}-profile-{number}.txt") if profiling else None
        result = replay_training(setup, run, corpus, f"train-{number}", options.train_batches, options.seed, profile)
        report["train"].append(result | utilization(result, options.peak_tflops))
        save(report, options.output)


def measure_memory(report: dict, run: Run, corpus: Corpus, options: argparse.Namespace) -> None:
    """The memory table: the train stage's defaults beside the memory savers."""
    for number, setup in enumerate(memory_setups(train_setups(run)[-1])):
        report["memory"].append(
            replay_training(setup, run, corpus, f"memory-{number}", options.train_batches, options.seed)
        )
        save(report, options.output)


def measure_evaluate(report: dict, run: Run, corpus: Corpus, options: argparse.Namespace) -> None:
    """The evaluation table: generation in the recipe's batches and the evaluate stage's, each in a fresh process
    on the rows it times."""
    for number, setup in enumerate(eval_setups(run, tuple(options.eval_batch_sizes))):
        rows = timed(
            eval_batches(setup, corpus.source_lengths),
            math.ceil(options.eval_rows / setup.batch_size),
            corpus.source_lengths,
        )
        data.write_split(
            corpus.rows(flatten(rows)).to_batches(), data.TOKENIZED_SCHEMA, run.data_dir, f"evaluate-{number}"
        )
        report["evaluate"].append(in_fresh_process(measure_generation, setup, run, f"evaluate-{number}"))
        save(report, options.output)


def table_layouts(options: argparse.Namespace) -> dict[str, tuple[str, int, dict[str, str]]]:
    """Each table's title, the rows of its epoch (for epoch seconds) and its columns."""
    return {
        "train": (
            f"training ({options.epoch_rows:,}-row epoch)",
            options.epoch_rows,
            {
                "samples_per_second": "samples/s",
                "useful_tokens_per_second": "useful tokens/s",
                "padded_tokens_per_second": "padded tokens/s",
                "epoch_padding_share": "padding",
                "epoch_shapes": "shapes",
                "epoch_seconds": "epoch s",
                "peak_memory_mib": "peak MiB",
                "speedup": "× recipe",
            }
            | ({"useful_tflops": "useful TFLOP/s", "mfu": "MFU"} if options.peak_tflops else {}),
        ),
        "evaluate": (
            f"evaluation ({options.evaluation_rows:,} rows)",
            options.evaluation_rows,
            {
                "samples_per_second": "samples/s",
                "source_tokens_per_second": "source tokens/s",
                "epoch_seconds": "all rows s",
                "peak_memory_mib": "peak MiB",
                "speedup": "× recipe",
            },
        ),
        "memory": (
            f"memory savers ({options.epoch_rows:,}-row epoch)",
            options.epoch_rows,
            {
                "samples_per_second": "samples/s",
                "epoch_seconds": "epoch s",
                "trainable_parameters": "trained weights",
                "saved_mib": "saved MiB",
                "peak_memory_mib": "peak MiB",
                "speedup": "× full",
            },
        ),
    }


def main() -> None:
    options = parse_options()
    params = load_params()
    model_cfg = params.model.model_copy(update={"checkpoint": options.checkpoint, "from_scratch": True})
    with tempfile.TemporaryDirectory() as data_dir:
        run = Run(Path(data_dir), model_cfg, params.preprocess, params.train, params.evaluate)
        train_corpus = make_corpus(run, options.epoch_rows, options.seed)
        eval_corpus = make_corpus(run, options.evaluation_rows, options.seed + 1)
        report = {
            "machine": environment.describe(modeling.resolve_precision(params.train.precision), 1),
            "checkpoint": options.checkpoint,
            "options": {k: str(v) for k, v in vars(options).items()},
            "train": [],
            "evaluate": [],
            "memory": [],
        }
        if "train" in options.tables:
            measure_train(report, run, train_corpus, options)
        if "memory" in options.tables:
            measure_memory(report, run, train_corpus, options)
        if "evaluate" in options.tables:
            measure_evaluate(report, run, eval_corpus, options)
    tables = table_layouts(options)
    for table in options.tables:
        report[table] = with_ratios(report[table], tables[table][1])
    save(report, options.output)
    print(
        f"{report['machine']['device']}, {options.checkpoint} with fresh weights; training batch {RECIPE_BATCH_SIZE}, "
        f"generation of {params.evaluate.generation_max_length} tokens a row\n"
    )
    for table in options.tables:
        title, _, columns = tables[table]
        print(markdown(title, report[table], columns) + "\n")
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
