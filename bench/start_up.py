"""Start-up of the train and evaluate stages on the tokenized splits that bench.data_stages's run of the data stages
wrote: what the train stage spends from the tokenized train split to its first batch (loading, the model, the
length-grouped sampler), and what the evaluate stage reads besides generating; each in a fresh process, with its peak
and its private resident memory (memory-mapped pages are the page cache's). bench.data_stages prints this table
after its own, at each scale:

    python -m bench.data_stages --scale 1 10
"""

import json
import tempfile
import time
from pathlib import Path

from bench.common import in_python, measured
from summarization.markup import markdown_table


def measure(project: Path, scratch: Path, env: dict) -> list[dict]:
    """Both stages' start-up, in the copy of the project where the data stages ran."""
    return [
        measured(
            "train: the tokenized train split to the first batch",
            in_python(train_start, "16"),
            project,
            scratch / "train.log",
            env,
        ),
        measured(
            "evaluate: reading the test split",
            in_python(evaluate_start, "test"),
            project,
            scratch / "evaluate.log",
            env,
        ),
    ]


def train_start(batch_size: str) -> None:
    """The train stage's way to its first batch: the tokenized train split, the model (fresh weights), the
    trainer's length-grouped sampler (the lengths from the Arrow column) and one batch; prints each phase as JSON."""
    from summarization import data, modeling, tokenizing, training
    from summarization.config import TOKENIZED_DIR, load_params

    params = load_params()
    phases, clock = {}, time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        phases[f"{name}_seconds"], clock = round(time.perf_counter() - clock, 1), time.perf_counter()

    train_split = data.read_dataset(TOKENIZED_DIR, "train")
    phase("load")
    tokenizer = tokenizing.read_tokenizer(TOKENIZED_DIR)
    model = modeling.load_model(
        params.model.model_copy(update={"from_scratch": True}), tokenizer, params.train.attention
    )
    with tempfile.TemporaryDirectory() as output_dir:
        args = training.arguments(
            params.train,
            "fp32",
            Path(output_dir),
            per_device_train_batch_size=int(batch_size),
            eval_strategy="no",
            load_best_model_at_end=False,
        )  # start-up alone is timed
        trainer = training.SummarizationTrainer.of_params(
            params.train, model=model, args=args, train_dataset=train_split, processing_class=tokenizer
        )
        phase("model")
        batches = iter(trainer.get_train_dataloader())
        phase("sampler")
        next(batches)
        phase("first_batch")
    print(json.dumps({"rows": train_split.num_rows, "private_rss_mib": private_rss_mib()} | phases))


def evaluate_start(split: str) -> None:
    """What the evaluate stage reads besides generating: the raw split's ids and references, the token ids
    memory-mapped, the rows' lengths that order the batches, and the documents a row group at a time."""
    from summarization import data
    from summarization.config import RAW_DIR, TOKENIZED_DIR

    start = time.perf_counter()
    raw, tokenized = data.read_split(RAW_DIR, split, ["id", "summary"]), data.map_tokenized_split(TOKENIZED_DIR, split)
    lengths = data.token_counts(tokenized.column("input_ids"))
    characters = sum(
        sum(map(len, batch.column("document").to_pylist()))
        for batch in data.read_batches(RAW_DIR, split, data.ROW_GROUP_ROWS, ["document"])
    )
    print(
        json.dumps(
            {
                "rows": len(lengths),
                "load_seconds": round(time.perf_counter() - start, 1),
                "private_rss_mib": private_rss_mib(),
                "raw_rows": raw.num_rows,
                "document_characters": characters,
            }
        )
    )


def private_rss_mib() -> int:
    """Resident memory of the process's own (anonymous) pages: a memory-mapped file's pages are the page
    cache's, which the kernel reclaims under pressure."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["RssAnon"].split()[0]) // 1024


def markdown(starts: list[dict]) -> str:
    return markdown_table(
        ["path", "rows", "loading s", "sampler s", "wall s", "peak RSS MiB", "private RSS MiB at the end"],
        [
            [
                r["path"],
                f"{r['rows']:,}",
                f"{r['load_seconds']:.1f}",
                r.get("sampler_seconds", ""),
                f"{r['wall_seconds']:.1f}",
                f"{r['peak_rss_mib']:,}",
                f"{r['private_rss_mib']:,}",
            ]
            for r in starts
        ],
    )
