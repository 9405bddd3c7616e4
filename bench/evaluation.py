"""Evaluation speed: generation as the published recipe runs it (Seq2SeqTrainer.predict) beside the evaluate
stage's, on the same rows of XSum's lengths (bench.common's corpus), a t5-small-shaped model with fresh weights made
to generate `evaluate.generation_max_length` tokens a row, each setup in a fresh process. Each row adds one change
to the row above it; `--eval-batch-sizes` adds the evaluate stage with other batch sizes.

    python -m bench.evaluation                                  # CPU-sized: 128 rows that stand for all of them
    python -m bench.evaluation --eval-rows 0 --eval-batch-sizes 256 512   # all 11,332 rows, on a GPU
"""

import argparse
import math
import sys
import tempfile
from dataclasses import asdict, dataclass, replace

import datasets
import numpy as np
import pyarrow as pa
import torch
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

from bench.common import (
    RECIPE_BATCH_SIZE,
    XSUM_ROWS,
    Run,
    chunks,
    cumulative,
    flatten,
    fresh_model,
    in_fresh_process,
    make_corpus,
    peak_memory,
    run_tables,
    save,
    synchronized_clock,
    timed,
)
from summarization import data, modeling
from summarization.generation import generate_summaries, longest_first

NAME = "evaluate"
OPTIONS = [
    (("--evaluation-rows",), {"type": int, "default": XSUM_ROWS["validation"], "help": "rows evaluated"}),
    (("--eval-rows",), {"type": int, "default": 128, "help": "rows timed per evaluation setup (0: all)"}),
    (
        ("--eval-batch-sizes",),
        {
            "type": int,
            "nargs": "*",
            "default": [],
            "help": "add an evaluation row with batches of this many rows, for each",
        },
    ),
]


@dataclass(frozen=True)
class EvalSetup:
    name: str
    trainer_predict: (
        bool  # the recipe's Seq2SeqTrainer.predict (fp16 on a GPU): dataset order, a loss pass beside generation
    )
    attention: str
    batch_size: int


def eval_batches(setup: EvalSetup, lengths: np.ndarray) -> list[list[int]]:
    order = list(range(len(lengths))) if setup.trainer_predict else longest_first(lengths.tolist())
    return chunks(order, setup.batch_size)


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


def measure(report: dict, run: Run, options: argparse.Namespace) -> None:
    """The evaluation table: generation in the recipe's batches and the evaluate stage's, each in a fresh process
    on the rows it times."""
    corpus = make_corpus(run, options.evaluation_rows, options.seed + 1)
    for number, setup in enumerate(eval_setups(run, tuple(options.eval_batch_sizes))):
        rows = timed(
            eval_batches(setup, corpus.source_lengths),
            math.ceil(options.eval_rows / setup.batch_size),
            corpus.source_lengths,
        )
        data.write_split(
            corpus.rows(flatten(rows)).to_batches(), data.TOKENIZED_SCHEMA, run.data_dir, f"evaluate-{number}"
        )
        report[NAME].append(in_fresh_process(measure_generation, setup, run, f"evaluate-{number}"))
        save(report, options.output)


def layout(options: argparse.Namespace) -> tuple[str, int, dict[str, str]]:
    columns = {
        "samples_per_second": "samples/s",
        "source_tokens_per_second": "source tokens/s",
        "epoch_seconds": "all rows s",
        "peak_memory_mib": "peak MiB",
        "speedup": "× recipe",
    }
    return f"evaluation ({options.evaluation_rows:,} rows)", options.evaluation_rows, columns


if __name__ == "__main__":
    run_tables(__doc__, [sys.modules[__name__]], "evaluate-")
