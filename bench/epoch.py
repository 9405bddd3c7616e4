"""A whole training epoch as the train stage runs it, time-boxed: an XSum-sized epoch of rows (bench.common's
corpus: real text cut to XSum's token lengths), a t5-small-shaped model with fresh weights, and the train
stage's Trainer with params.yaml's train section, changed by `--set key=value` as `dvc exp run -S` changes it.
Past `--max-seconds` it stops after the step it is in and reports the rows done and the rate.

    python -m bench.epoch --checkpoint .gpukit/t5-small --max-seconds 240 --peak-tflops 989 \
        --set train.max_tokens_per_batch=32768 train.length_buckets=8 train.compile=reduce-overhead
"""

import json
import tempfile
import time
from pathlib import Path

import torch
import yaml
from transformers import PrinterCallback, TrainerCallback, set_seed

from bench.common import XSUM_ROWS, Run, command_line, make_corpus, peak_memory, save
from bench.replay import training_flops
from summarization import data, environment, modeling, tokenizing, training
from summarization.cli import run_command
from summarization.config import Params, load_params, parse_yaml

WRITE_ROWS = 10_000  # rows made into Arrow at a time: a whole XSum epoch as Python lists would take gigabytes


class Deadline(TrainerCallback):
    """Stops training after the step that ends past `seconds` of the host's clock (which runs ahead of the GPU by
    the queued steps at most; waiting for the GPU at every step would slow it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop |= time.perf_counter() - self.start > self.seconds


def with_settings(params: Params, settings: list[str]) -> Params:
    """params with `section.key=value` settings, each value read as YAML, validated as params.yaml is."""
    raw = params.model_dump()
    for setting in settings:
        dotted, _, value = setting.partition("=")
        *parents, leaf = dotted.split(".")
        section = raw
        for key in parents:
            section = section[key]
        section[leaf] = parse_yaml(value)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(raw, file)
        file.flush()
        return load_params(Path(file.name))


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--rows", type=int, default=XSUM_ROWS["train"], help="rows of the epoch")
    parser.add_argument("--max-seconds", type=float, default=float("inf"), help="stop after the step that ends past it")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="params changed, e.g. train.compile=default"
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="the device's dense peak, for the model FLOPs utilization (MFU)"
    )
    parser.add_argument("--output", type=Path, default=Path("bench/results") / f"epoch-{modeling.device().type}.json")
    options = parser.parse_args()
    params = with_settings(
        load_params(),
        [
            f"model.checkpoint={options.checkpoint}",
            "model.from_scratch=true",
            "train.num_train_epochs=1",
            "train.eval_strategy='no'",
            "train.load_best_model_at_end=false",
            *options.set,
        ],
    )
    cfg = params.train
    precision = modeling.resolve_precision(cfg.precision)
    run = Run(Path(), params.model, params.preprocess, cfg, params.evaluate)
    corpus = make_corpus(run, options.rows, seed=0)
    with tempfile.TemporaryDirectory() as directory:
        batches = (
            corpus.rows(list(range(start, min(start + WRITE_ROWS, options.rows)))).to_batches()
            for start in range(0, options.rows, WRITE_ROWS)
        )
        data.write_split(
            (batch for group in batches for batch in group), data.TOKENIZED_SCHEMA, Path(directory), "train"
        )
        dataset = data.read_dataset(Path(directory), "train")
        tokenizer = tokenizing.load_tokenizer(params.model)
        set_seed(cfg.seed)
        model = modeling.load_model(params.model, tokenizer, cfg.attention)
        args = training.arguments(
            cfg, precision, Path(directory) / "checkpoints", save_strategy="no", disable_tqdm=True
        )
        trainer = training.SummarizationTrainer.of_params(
            cfg, model=model, args=args, train_dataset=dataset, processing_class=tokenizer
        )
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(Deadline(options.max_seconds))
        epoch = trainer.describe_epoch()
        print(f"epoch: {epoch}", flush=True)
        result = trainer.train()
        done = trainer.epoch_batches()[: result.global_step * cfg.gradient_accumulation_steps]
    seconds = result.metrics["train_runtime"]  # Trainer reads the loss from the GPU before it stops the clock
    rows = [row for batch in done for row in batch]
    flops = training_flops(
        model.config, torch.from_numpy(corpus.source_lengths[rows]), torch.from_numpy(corpus.target_lengths[rows])
    )
    report = {
        "machine": environment.describe(precision, 1),
        "checkpoint": options.checkpoint,
        "settings": options.set,
        "epoch": epoch,
        "epoch_rows": options.rows,
        "finished": len(rows) == options.rows,
        "rows": len(rows),
        "steps": result.global_step,
        "seconds": round(seconds, 1),
        "samples_per_second": round(len(rows) / seconds, 1),
        "useful_tokens_per_second": round(int(corpus.source_lengths[rows].sum()) / seconds),
        "useful_tflops": round(flops / seconds / 1e12, 3),
        **{key: result.metrics[key] for key in ("compiled_graphs", "compile_seconds") if key in result.metrics},
        **peak_memory(),
    }
    if options.peak_tflops:
        report["mfu"] = round(report["useful_tflops"] / options.peak_tflops, 3)
    save(report, options.output)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    run_command(main)
