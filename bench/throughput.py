"""Training and evaluation throughput: the published recipe's path beside ours, in one run on the same data.

The model is t5-small-shaped (the checkpoint's config with fresh weights: speed does not depend on them).
The data is an XSum-sized epoch of real text through the real tokenizer, cut to lengths that follow
XSum's. Each setup batches the whole epoch its way (transformers' own samplers) and is timed on batches
picked at evenly spaced quantiles of padded length, so a CPU measures a few batches that stand for the
epoch; `--train-batches 0 --eval-rows 0` times all of them. Each row of a table adds one change to the
row above it: the first is the recipe, the last is what the train and evaluate stages do with
params.yaml. A third table sets the train stage's row beside the memory savers for larger models: LoRA
adapters, activation checkpointing, Adafactor. Every setup runs in a fresh process, so peak memory is its own.

    python -m bench.throughput                                  # CPU-sized: ~30 minutes on 2 cores
    python -m bench.throughput --train-batches 0 --eval-rows 0  # a whole epoch and evaluation, on a GPU
    python -m bench.throughput --tables memory                  # only LoRA and the memory savers
"""
import argparse
import json
import math
import random
import resource
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
from transformers import (DataCollatorForSeq2Seq, PrinterCallback, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                          TrainerCallback, set_seed)
from transformers.trainer_pt_utils import get_length_grouped_indices

from summarization import adapters, corpus, data, environment, modeling, training
from summarization.config import Evaluate, Model, Preprocess, Train, load_params
from summarization.generation import generate_summaries, longest_first

FIXTURE_CHECKPOINT = Path("../shared/fixtures/t5-small-tokenizer")  # tokenizer and config, no weights
XSUM_ROWS = {"train": 204_045, "validation": 11_332}
# Token lengths of XSum in t5-small's tokenizer: documents log-normal with mean ≈ 530 and one in ten
# beyond 1,024 (so a random batch of 16 is usually padded to the 1,024 cap), one-sentence summaries ≈ 28.
DOCUMENT_MEDIAN, DOCUMENT_SIGMA = 400, 0.75
SUMMARY_MEDIAN, SUMMARY_SIGMA = 27, 0.3
RECIPE_BATCH_SIZE = 16
LORA_RANK = 16  # on peft's default layers for T5: the attention's q and v
# Forkserver children (in_fresh_process) run this module again as __mp_main__ after the server imported it.
warnings.filterwarnings("ignore", message="'bench.throughput' found in sys.modules", category=RuntimeWarning)


@dataclass(frozen=True)
class TrainSetup:
    name: str
    sampling: str  # random (the recipe's RandomSampler) or group_by_length (Trainer's LengthGroupedSampler)
    pad_to_multiple_of: int | None
    attention: str
    optim: str
    precision: str
    compile: bool = False
    lora_r: int | None = None
    gradient_checkpointing: bool = False


@dataclass(frozen=True)
class EvalSetup:
    name: str
    trainer_predict: bool  # the recipe's Seq2SeqTrainer.predict: dataset order, and a loss pass beside generation
    attention: str
    precision: str
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
            return pa.array([head + self.stream[start:start + length - len(head) - 1].tolist() + [self.eos]
                             for start, length in zip(self.starts[indices], lengths[indices], strict=True)],
                            pa.list_(pa.int32()))
        return pa.table({"id": [str(row) for row in indices], "input_ids": ids(self.prefix, self.source_lengths),
                         "labels": ids([], self.target_lengths)})


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

    return Corpus(stream, prefix, tokenizer.eos_token_id,
                  lengths(DOCUMENT_MEDIAN, DOCUMENT_SIGMA, len(prefix), run.preprocess.max_source_length),
                  lengths(SUMMARY_MEDIAN, SUMMARY_SIGMA, 0, run.preprocess.max_target_length),
                  rng.integers(0, len(stream) - run.preprocess.max_source_length, rows))


def train_batches(sampling: str, lengths: np.ndarray, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    order = (get_length_grouped_indices(lengths.tolist(), RECIPE_BATCH_SIZE, generator=generator)
             if sampling == "group_by_length" else torch.randperm(len(lengths), generator=generator).tolist())
    return chunks(order, RECIPE_BATCH_SIZE)


def eval_batches(setup: EvalSetup, lengths: np.ndarray) -> list[list[int]]:
    order = list(range(len(lengths))) if setup.trainer_predict else longest_first(lengths.tolist())
    return chunks(order, setup.batch_size)


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[start:start + size] for start in range(0, len(order), size)]


def padded_tokens(batch: list[int], lengths: np.ndarray, multiple: int | None) -> int:
    longest = int(lengths[batch].max())
    return (math.ceil(longest / multiple) * multiple if multiple else longest) * len(batch)


def timed(batches: list[list[int]], count: int, lengths: np.ndarray) -> list[int]:
    """`count` batches at evenly spaced quantiles of padded length (all when count is 0), concatenated:
    a few batches whose mean cost is the epoch's."""
    if count == 0 or count >= len(batches):
        return [row for batch in batches for row in batch]
    by_cost = sorted(batches, key=lambda batch: (int(lengths[batch].max()), len(batch)))
    return [row for k in range(count) for row in by_cost[(2 * k + 1) * len(by_cost) // (2 * count)]]


def fresh_model(run: Run, attention: str):
    tokenizer = modeling.load_tokenizer(run.model)
    set_seed(run.train.seed)
    model = modeling.load_model(run.model, tokenizer)
    model.set_attn_implementation(attention)
    return tokenizer, model


class StepClock(TrainerCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.step_ends = time.perf_counter(), []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def measure_training(setup: TrainSetup, run: Run, split: str) -> dict:
    tokenizer, model = fresh_model(run, setup.attention)
    model = adapters.with_lora(model, run.train.lora.model_copy(update={"r": setup.lora_r}), run.model)
    collate = training.collator(tokenizer, model, setup.pad_to_multiple_of)
    batches = []  # (rows, useful source tokens, padded source tokens) of each batch

    def counting_collate(features: list[dict]) -> dict:
        batch = collate(features)
        batches.append((len(features), int(batch["attention_mask"].sum()), batch["input_ids"].numel()))
        return batch

    with tempfile.TemporaryDirectory() as output_dir:
        # The rows are already in the setup's batch order: a sequential sampler replays its batches.
        args = training.arguments(run.train, setup.precision, Path(output_dir), per_device_train_batch_size=RECIPE_BATCH_SIZE,
                                  num_train_epochs=1, save_strategy="no", logging_strategy="no", disable_tqdm=True,
                                  eval_strategy="no", load_best_model_at_end=False,  # training steps alone are timed
                                  train_sampling_strategy="sequential", optim=setup.optim, torch_compile=setup.compile,
                                  activation_checkpointing=setup.gradient_checkpointing)
        trainer = Seq2SeqTrainer(model=model, args=args, processing_class=tokenizer, data_collator=counting_collate,
                                 train_dataset=data.read_dataset(run.data_dir, split))
        clock = StepClock()
        trainer.add_callback(clock)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        model.save_pretrained(output_dir)  # what the train stage writes: the model, or the adapter alone
        saved_bytes = sum(path.stat().st_size for path in Path(output_dir).glob("*.safetensors"))
    seconds = clock.step_ends[-1] - clock.start
    rows, useful, padded = map(sum, zip(*batches, strict=True))
    return {"setup": asdict(setup), "rows": rows, "seconds": round(seconds, 2),
            "first_step_seconds": round(clock.step_ends[0] - clock.start, 2),
            "samples_per_second": round(rows / seconds, 3), "useful_tokens_per_second": round(useful / seconds, 1),
            "padded_tokens_per_second": round(padded / seconds, 1),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "saved_mib": round(saved_bytes / 2**20, 1), **peak_memory()}


def measure_generation(setup: EvalSetup, run: Run, split: str) -> dict:
    tokenizer, model = fresh_model(run, setup.attention)
    rows = data.read_split(run.data_dir, split)
    sources = rows.column("input_ids").to_pylist()
    cfg = run.evaluate
    # Every row gets exactly generation_max_length tokens, in both paths: fresh weights would stop at random.
    model.generation_config.min_length = cfg.generation_max_length
    start = time.perf_counter()
    if setup.trainer_predict:
        with tempfile.TemporaryDirectory() as output_dir:
            args = Seq2SeqTrainingArguments(output_dir, per_device_eval_batch_size=setup.batch_size, predict_with_generate=True,
                                            generation_max_length=cfg.generation_max_length, generation_num_beams=cfg.num_beams,
                                            fp16=setup.precision == "fp16", use_cpu=modeling.device().type == "cpu",
                                            report_to="none", disable_tqdm=True)
            trainer = Seq2SeqTrainer(model=model, args=args, processing_class=tokenizer,
                                     data_collator=DataCollatorForSeq2Seq(tokenizer, model=model))
            trainer.predict(datasets.Dataset(rows))
    else:
        generate_summaries(model.to(modeling.device()), tokenizer, sources,
                           setup.batch_size, cfg.generation_max_length, cfg.num_beams, setup.precision)
    seconds = time.perf_counter() - start
    source_tokens = sum(len(ids) for ids in sources)
    return {"setup": asdict(setup), "rows": rows.num_rows, "seconds": round(seconds, 2),
            "samples_per_second": round(rows.num_rows / seconds, 3),
            "source_tokens_per_second": round(source_tokens / seconds, 1), **peak_memory()}


def peak_memory() -> dict:
    if torch.cuda.is_available():
        return {"peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20), "peak_memory_of": "CUDA allocated"}
    return {"peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "peak_memory_of": "process RSS"}


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


def train_setups(run: Run, compile_: bool) -> list[TrainSetup]:
    cuda = torch.cuda.is_available()
    recipe = TrainSetup("recipe: random batches padded to the longest, eager attention, AdamW",
                        "random", None, "eager", "adamw_torch", "fp16" if cuda else "fp32")
    ours = TrainSetup("ours", training.sampling_strategy(run.train),
                      modeling.PAD_TO_MULTIPLE_OF, modeling.ATTENTION, run.train.optim,
                      modeling.resolve_precision(run.train.precision))
    rows = cumulative(recipe, ours, [("+ length-grouped batches, padded to a multiple of 8", ("sampling", "pad_to_multiple_of")),
                                     ("+ SDPA attention", ("attention",)),
                                     (f"+ {ours.optim}", ("optim",)),
                                     (f"+ {ours.precision} autocast", ("precision",))])
    return rows + [replace(rows[-1], name="+ torch.compile", compile=True)] * compile_


def memory_setups(stage: TrainSetup) -> list[TrainSetup]:
    """The train stage's row, and each memory saver in its place."""
    return [replace(stage, name="the train stage: full fine-tuning"),
            replace(stage, name="+ activation checkpointing", gradient_checkpointing=True),
            replace(stage, name=f"LoRA r={LORA_RANK} instead", lora_r=LORA_RANK),
            replace(stage, name=f"LoRA r={LORA_RANK} + activation checkpointing", lora_r=LORA_RANK, gradient_checkpointing=True),
            replace(stage, name="full fine-tuning with Adafactor instead", optim="adafactor")]


def eval_setups(run: Run) -> list[EvalSetup]:
    cuda = torch.cuda.is_available()
    recipe = EvalSetup("recipe: Seq2SeqTrainer.predict, eager attention", True, "eager", "fp16" if cuda else "fp32",
                       RECIPE_BATCH_SIZE)
    ours = EvalSetup("ours", False, modeling.ATTENTION, modeling.resolve_precision(run.train.precision),
                     run.evaluate.per_device_eval_batch_size)
    return cumulative(recipe, ours, [("+ length-sorted generate, no loss pass", ("trainer_predict",)),
                                     ("+ SDPA attention", ("attention",)),
                                     (f"+ {ours.precision} autocast", ("precision",)),
                                     (f"+ batches of {ours.batch_size}", ("batch_size",))])


def with_ratios(results: list[dict], epoch_rows: int) -> list[dict]:
    baseline = results[0]["samples_per_second"]
    return [result | {"speedup": round(result["samples_per_second"] / baseline, 2),
                      "epoch_seconds": round(epoch_rows / result["samples_per_second"])} for result in results]


def markdown(title: str, results: list[dict], columns: dict[str, str]) -> str:
    lines = [f"| {title} | " + " | ".join(columns.values()) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {result['setup']['name']} | " + " | ".join(str(result[key]) for key in columns) + " |" for result in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(FIXTURE_CHECKPOINT) if FIXTURE_CHECKPOINT.is_dir() else "t5-small",
                        help="a directory or Hub id with a tokenizer and a config (default: %(default)s)")
    parser.add_argument("--epoch-rows", type=int, default=XSUM_ROWS["train"], help="rows of the training epoch")
    parser.add_argument("--evaluation-rows", type=int, default=XSUM_ROWS["validation"], help="rows evaluated")
    parser.add_argument("--train-batches", type=int, default=6, help="batches timed per training setup (0: all)")
    parser.add_argument("--eval-rows", type=int, default=128, help="rows timed per evaluation setup (0: all)")
    parser.add_argument("--compile", action="store_true", help="add a training row with torch.compile")
    parser.add_argument("--tables", nargs="+", choices=["train", "evaluate", "memory"], default=["train", "evaluate", "memory"],
                        help="which tables to measure (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("bench/results") / f"{modeling.device().type}.json")
    options = parser.parse_args()
    params = load_params()
    model_cfg = params.model.model_copy(update={"checkpoint": options.checkpoint, "from_scratch": True})
    with tempfile.TemporaryDirectory() as data_dir:
        run = Run(Path(data_dir), model_cfg, params.preprocess, params.train, params.evaluate)
        train_corpus = make_corpus(run, options.epoch_rows, options.seed)
        eval_corpus = make_corpus(run, options.evaluation_rows, options.seed + 1)
        report = {"machine": environment.describe(modeling.resolve_precision(params.train.precision), 1),
                  "checkpoint": options.checkpoint, "options": {k: str(v) for k, v in vars(options).items()},
                  "train": [], "evaluate": [], "memory": []}
        for number, setup in enumerate(train_setups(run, options.compile) if "train" in options.tables else []):
            batches = train_batches(setup.sampling, train_corpus.source_lengths, options.seed)
            rows = train_corpus.rows(timed(batches, options.train_batches, train_corpus.source_lengths))
            data.write_split(rows.to_batches(), data.TOKENIZED_SCHEMA, run.data_dir, f"train-{number}")
            epoch_padded = sum(padded_tokens(batch, train_corpus.source_lengths, setup.pad_to_multiple_of) for batch in batches)
            report["train"].append(in_fresh_process(measure_training, setup, run, f"train-{number}")
                                   | {"epoch_padding_share": round(1 - train_corpus.source_lengths.sum() / epoch_padded, 4)})
        if "memory" in options.tables:
            stage = train_setups(run, compile_=False)[-1]
            rows = train_corpus.rows(timed(train_batches(stage.sampling, train_corpus.source_lengths, options.seed),
                                           options.train_batches, train_corpus.source_lengths))
            data.write_split(rows.to_batches(), data.TOKENIZED_SCHEMA, run.data_dir, "memory")
            report["memory"] = [in_fresh_process(measure_training, setup, run, "memory") for setup in memory_setups(stage)]
        for number, setup in enumerate(eval_setups(run) if "evaluate" in options.tables else []):
            rows = timed(eval_batches(setup, eval_corpus.source_lengths), math.ceil(options.eval_rows / setup.batch_size),
                         eval_corpus.source_lengths)
            data.write_split(eval_corpus.rows(rows).to_batches(), data.TOKENIZED_SCHEMA, run.data_dir, f"evaluate-{number}")
            report["evaluate"].append(in_fresh_process(measure_generation, setup, run, f"evaluate-{number}"))
    tables = {  # title, rows an epoch, columns
        "train": (f"training ({options.epoch_rows:,}-row epoch)", options.epoch_rows,
                  {"samples_per_second": "samples/s", "useful_tokens_per_second": "useful tokens/s",
                   "padded_tokens_per_second": "padded tokens/s", "epoch_padding_share": "padding",
                   "epoch_seconds": "epoch s", "peak_memory_mib": "peak MiB", "speedup": "× recipe"}),
        "evaluate": (f"evaluation ({options.evaluation_rows:,} rows)", options.evaluation_rows,
                     {"samples_per_second": "samples/s", "source_tokens_per_second": "source tokens/s",
                      "epoch_seconds": "all rows s", "peak_memory_mib": "peak MiB", "speedup": "× recipe"}),
        "memory": (f"memory savers ({options.epoch_rows:,}-row epoch)", options.epoch_rows,
                   {"samples_per_second": "samples/s", "epoch_seconds": "epoch s", "trainable_parameters": "trained weights",
                    "saved_mib": "saved MiB", "peak_memory_mib": "peak MiB", "speedup": "× full"})}
    for table in options.tables:
        report[table] = with_ratios(report[table], tables[table][1])
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['machine']['device']}, {options.checkpoint} with fresh weights; training batch {RECIPE_BATCH_SIZE}, "
          f"generation of {params.evaluate.generation_max_length} tokens a row\n")
    for table in options.tables:
        title, _, columns = tables[table]
        print(markdown(title, report[table], columns) + "\n")
    print(f"wrote {options.output}")


if __name__ == "__main__":
    main()
