"""Data stages at XSum size: fetch and preprocess beside the recipe's load_dataset("json") + map, on the same
files, and what the train and evaluate stages spend loading the tokenized splits.

The corpus is generated: jsonl files of id, document and summary with XSum's row counts and lengths
(documents ≈ 435 words, one in ten beyond 1,024 t5 tokens; summaries ≈ 23 words), made of the embedded
corpus's sentences. Each path runs in a fresh process, timed from its start to its exit; its memory is that
process's peak RSS. Ours runs the stages themselves in a copy of the project (fetch.source: files, the
tokenizer of --checkpoint); the recipe's is run_summarization.py's preprocessing with the default num_proc.

    python -m bench.data_stages             # XSum size: 204,045 / 11,332 / 11,334 rows (~650 MB of jsonl)
    python -m bench.data_stages --scale 1 10  # XSum size, then ten times the rows (~6.5 GB more: check the disk)
    python -m bench.data_stages --scale 10 --paths ours  # our stages alone (the recipe's takes as long again)
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from bench import start_up
from bench.common import XSUM_ROWS, command_line, in_python, measured, peak_rss_mib, save
from summarization import corpus, environment
from summarization.config import SPLITS
from summarization.markup import markdown_table

# Log-normal word counts, mean ≈ 435 words. The embedded corpus's names make ≈ 1.5 t5 tokens a word (XSum:
# ≈ 1.2), so a narrower spread than XSum's puts one document in ten beyond 1,024 tokens, as in XSum.
DOCUMENT_WORDS_MEDIAN, DOCUMENT_WORDS_SIGMA = 400, 0.405
SUMMARY_WORDS_MEDIAN, SUMMARY_WORDS_SIGMA = 22, 0.3
POOL_STORIES = 20_000  # stories cut into the sentences that documents and summaries are drawn from
PROJECT_FILES = ("params.yaml", "stages", "summarization", "bench")


def write_corpus(directory: Path, scale: float, seed: int) -> dict[str, Path]:
    """One jsonl file a split, XSum's row counts times `scale`; the same seed writes the same bytes."""
    rng = random.Random(seed)
    stories = [corpus.story(rng) for _ in range(POOL_STORIES)]
    sentences = [sentence for document, _ in stories for sentence in document.split("\n")]
    summaries = [summary for _, summary in stories]
    words_per_sentence = np.mean([len(sentence.split()) for sentence in sentences])
    draw = np.random.default_rng(seed)
    paths, next_id = {}, 10_000_000  # XSum ids are numeric strings
    directory.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        rows = max(1, round(XSUM_ROWS[split] * scale))
        paths[split] = directory / f"{split}.jsonl"
        with paths[split].open("w") as out:
            document_words = draw.lognormal(np.log(DOCUMENT_WORDS_MEDIAN), DOCUMENT_WORDS_SIGMA, rows)
            summary_words = draw.lognormal(np.log(SUMMARY_WORDS_MEDIAN), SUMMARY_WORDS_SIGMA, rows).round().astype(int)
            for row in range(rows):
                picks = draw.integers(0, len(sentences), max(1, round(document_words[row] / words_per_sentence)))
                document = "\n".join(sentences[pick] for pick in picks)
                words = " ".join(summaries[pick] for pick in draw.integers(0, len(summaries), 3)).split()
                summary = " ".join(words[: max(summary_words[row], 3)]).rstrip(",.") + "."
                out.write(json.dumps({"id": str(next_id), "document": document, "summary": summary}) + "\n")
                next_id += 1
    return paths


def project_copy(directory: Path, files: dict[str, Path], checkpoint: str) -> Path:
    """This project's stages and params in `directory`, reading `files` with the tokenizer of `checkpoint`."""
    directory.mkdir()
    for name in PROJECT_FILES:
        copy = shutil.copytree if Path(name).is_dir() else shutil.copy
        copy(name, directory / name)
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["fetch"] |= {"source": "files", "files": {split: str(path) for split, path in files.items()}}
    params["model"]["checkpoint"] = checkpoint
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return directory


def recipe(
    train: str,
    validation: str,
    test: str,
    checkpoint: str,
    prefix: str,
    max_source_length: str,
    max_target_length: str,
    cache_dir: str,
) -> None:
    """run_summarization.py's data path: load_dataset("json"), then map(preprocess_function, batched=True) over
    every split; prints the phases' seconds and peak RSS as JSON."""
    import datasets
    from transformers import AutoTokenizer

    start = time.perf_counter()
    raw = datasets.load_dataset(
        "json", data_files={"train": train, "validation": validation, "test": test}, cache_dir=cache_dir
    )
    loaded = time.perf_counter()
    load_peak = peak_rss_mib()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=False)

    def preprocess_function(examples):
        inputs = [prefix + doc for doc in examples["document"]]
        model_inputs = tokenizer(inputs, max_length=int(max_source_length), truncation=True)
        labels = tokenizer(text_target=examples["summary"], max_length=int(max_target_length), truncation=True)
        model_inputs["labels"] = labels["input_ids"]
        return model_inputs

    rows = 0
    for split in SPLITS:
        rows += raw[split].map(preprocess_function, batched=True, remove_columns=raw[split].column_names).num_rows
    print(
        json.dumps(
            {
                "rows": rows,
                "load_seconds": round(loaded - start, 2),
                "load_peak_rss_mib": load_peak,
                "map_seconds": round(time.perf_counter() - loaded, 2),
            }
        )
    )


def markdown(results: list[dict]) -> str:
    return markdown_table(
        ["path", "rows", "wall s", "peak RSS MiB", "× recipe"],
        [
            [
                r["path"],
                f"{r['rows']:,}",
                f"{r['wall_seconds']:.1f}",
                f"{r['peak_rss_mib']:,}",
                "" if r["speedup"] is None else r["speedup"],
            ]
            for r in results
        ],
    )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        nargs="+",
        default=[1],
        help="XSum's row counts times this; several scales run one after another (default: 1)",
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the corpus and the runs go, outside the repository (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--paths",
        choices=["both", "ours"],
        default="both",
        help="both: ours and the recipe's side by side (default); ours: our stages alone",
    )
    parser.add_argument(
        "--output", type=Path, help="the JSON report (default: bench/results/data-stages-x<scale>[-x<scale>...].json)"
    )
    options = parser.parse_args()
    output = options.output or Path("bench/results") / (
        "data-stages" + "".join(f"-x{scale:g}" for scale in options.scale) + ".json"
    )
    report = {"machine": environment.describe("fp32", 1), "checkpoint": options.checkpoint, "scales": []}
    for scale in options.scale:
        report["scales"].append(measure_scale(scale, options))
        save(report, output)
    print(f"\n{report['machine']['device']}, {os.cpu_count()} CPUs; each path a fresh process")
    for result in report["scales"]:
        print(
            f"\n{result['scale']:g}x XSum\n\n{markdown(result['data_stages'])}\n\n"
            f"{start_up.markdown(result['start_up'])}"
        )
    print(f"\nwrote {output}")


def measure_scale(scale: float, options: argparse.Namespace) -> dict:
    """Our data stages (and the recipe's path) on a corpus of XSum's size times `scale`, then train's and
    evaluate's start-up on our tokenized splits."""
    cfg = yaml.safe_load(Path("params.yaml").read_text())["preprocess"]
    with tempfile.TemporaryDirectory(dir=options.scratch, prefix="data-stages-") as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        files = write_corpus(scratch / "corpus", scale, options.seed)
        print(
            f"wrote {sum(path.stat().st_size for path in files.values()) / 2**20:,.0f} MiB of jsonl "
            f"to {scratch / 'corpus'} "
            f"in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        project = project_copy(scratch / "project", files, options.checkpoint)
        env = os.environ | {
            "HF_DATASETS_CACHE": str(scratch / "hf-cache"),
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
        }
        fetch, preprocess = (
            measured(
                f"ours: python -m stages.{stage}",
                [sys.executable, "-m", f"stages.{stage}"],
                project,
                scratch / f"{stage}.log",
                env,
            )
            for stage in ("fetch", "preprocess")
        )
        recipe_run = None
        if options.paths == "both":
            recipe_run = measured(
                "recipe",
                in_python(
                    recipe,
                    *map(str, files.values()),
                    options.checkpoint,
                    cfg["prefix"],
                    str(cfg["max_source_length"]),
                    str(cfg["max_target_length"]),
                    str(scratch / "hf-cache"),
                ),
                Path.cwd(),
                scratch / "recipe.log",
                env,
            )
            shutil.rmtree(scratch / "hf-cache")  # the recipe's cache files: as large as the corpus again
        starts = start_up.measure(project, scratch, env)
        rows = sum(split["rows"] for split in json.loads((project / "metrics/data.json").read_text()).values())
    return {
        "scale": scale,
        "data_stages": side_by_side(fetch | {"rows": rows}, preprocess | {"rows": rows}, recipe_run),
        "start_up": starts,
    }


def side_by_side(fetch: dict, preprocess: dict, recipe_run: dict | None) -> list[dict]:
    """The recipe's phases (when it ran) and our stages, with the speed-up of each over the recipe's phase it
    stands for: fetch for load_dataset, preprocess for map, both for the recipe's whole process."""

    def row(path: str, seconds: float, peak: int, rows: int, recipe_seconds: float | None) -> dict:
        return {
            "path": path,
            "rows": rows,
            "wall_seconds": round(seconds, 1),
            "peak_rss_mib": peak,
            "speedup": round(recipe_seconds / seconds, 2) if recipe_seconds is not None and seconds else None,
        }

    if recipe_run is None:
        load = map_ = whole = None
        recipe_rows = []
    else:
        load, map_, whole = recipe_run["load_seconds"], recipe_run["map_seconds"], recipe_run["wall_seconds"]
        recipe_rows = [
            row('recipe: load_dataset("json")', load, recipe_run["load_peak_rss_mib"], recipe_run["rows"], load),
            row(
                "recipe: map(preprocess_function, batched=True)",
                map_,
                recipe_run["peak_rss_mib"],
                recipe_run["rows"],
                map_,
            ),
            row("recipe: the whole process", whole, recipe_run["peak_rss_mib"], recipe_run["rows"], whole),
        ]
    return recipe_rows + [
        row(fetch["path"], fetch["wall_seconds"], fetch["peak_rss_mib"], fetch["rows"], load),
        row(preprocess["path"], preprocess["wall_seconds"], preprocess["peak_rss_mib"], preprocess["rows"], map_),
        row(
            "ours: fetch + preprocess",
            fetch["wall_seconds"] + preprocess["wall_seconds"],
            max(fetch["peak_rss_mib"], preprocess["peak_rss_mib"]),
            fetch["rows"],
            whole,
        ),
    ]


if __name__ == "__main__":
    main()
