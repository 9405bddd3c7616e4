"""Scoring at XSum's validation size: the recipe's ROUGE beside ours, in one process and on every core, and the
lead-1 baseline before and now, side by side in one run.

The recipe's path is Hugging Face `evaluate`'s rouge module as run_summarization.py calls it
(`metric.compute(predictions, references, use_stemmer=True)` after putting each Punkt sentence on a line):
`evaluate.load("rouge")` needs the Hub, so this runs what its rouge.py does — RougeScorer(use_stemmer=True), one
pair at a time, into a BootstrapAggregator() of 1,000 resamples — without evaluate's Arrow bookkeeping around it
(its cost, if any, is left out: the recipe only gets faster). Punkt is the project's (the `punkt` package): nltk's
sent_tokenize needs its data downloaded.

The texts are XSum-like: predictions ~20 words, references ~23 words, documents ~400 words in sentences of ~20,
drawn from a Zipf law (exponent 1.07) over 50,000 words: the words of ../shared/fixtures/xsum-sample.jsonl by
frequency, then those words with English suffixes (the stemmer's work). The distinct words are reported: stems
are memoized, so fewer distinct words favour ours.

    python -m bench.scoring               # 11,332 rows (~6 minutes on 2 busy cores)
    python -m bench.scoring --rows 500    # a quick look
"""

import argparse
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer, scoring

from bench.common import XSUM_ROWS, save
from summarization import data, evaluation, measures, rouge
from summarization.data import in_processes, usable_cores
from summarization.markup import markdown_table

XSUM_SAMPLE = Path("../shared/fixtures/xsum-sample.jsonl")
VOCABULARY, ZIPF_EXPONENT = 50_000, 1.07
SUFFIXES = ("s", "ed", "ing", "ly", "er", "ation", "ness", "ment", "ful", "ities", "ised", "izing")
WORDS = {"prediction": 20, "reference": 23, "sentence": 20, "document": 400}
BOOTSTRAP_SAMPLES = 1000  # params.yaml's evaluate.bootstrap_samples, and BootstrapAggregator's default


def xsum_like(rows: int, seed: int = 0) -> dict[str, list[str]]:
    """Predictions, references and documents of `rows` examples; the same seed gives the same texts."""
    text = " ".join(row["document"] + " " + row["summary"] for row in map(json.loads, XSUM_SAMPLE.open()))
    real = [word for word, _ in Counter(re.findall(r"[A-Za-z]+", text)).most_common()]
    words = real + [f"{real[k % len(real)]}{SUFFIXES[k // len(real) % len(SUFFIXES)]}" for k in range(VOCABULARY)]
    words = words[:VOCABULARY]
    weights = 1 / np.arange(1, VOCABULARY + 1) ** ZIPF_EXPONENT
    weights /= weights.sum()
    draw = np.random.default_rng(seed)

    def sentences(count: int, mean_words: int) -> list[str]:
        """`count` sentences of about `mean_words` words, one word in thirty a number (news has many)."""
        lengths = np.maximum(3, draw.normal(mean_words, 4, count).round().astype(int))
        picked = iter(draw.choice(VOCABULARY, lengths.sum(), p=weights))
        numbers = iter(draw.integers(1, 2000, lengths.sum()))
        texts = []
        for length in lengths:
            sentence = [words[next(picked)] if draw.random() > 1 / 30 else f"{next(numbers):,}" for _ in range(length)]
            text = " ".join(sentence)  # the words' own case: capitalised ones are names to novel_names
            texts.append(text[0].upper() + text[1:] + ".")
        return texts

    per_document = WORDS["document"] // WORDS["sentence"]
    lines = sentences(rows * per_document, WORDS["sentence"])
    return {
        "prediction": sentences(rows, WORDS["prediction"]),
        "reference": sentences(rows, WORDS["reference"]),
        "document": ["\n".join(lines[row * per_document : (row + 1) * per_document]) for row in range(rows)],
    }


def recipe_rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """evaluate's rouge `_compute` after run_summarization.py's postprocess_text."""
    predictions = [rouge.sentences_on_lines(prediction) for prediction in predictions]
    references = [rouge.sentences_on_lines(reference) for reference in references]
    scorer = rouge_scorer.RougeScorer(list(rouge.ROUGE_TYPES), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for reference, prediction in zip(references, predictions):
        aggregator.add_scores(scorer.score(reference, prediction))
    return {kind: score.mid.fmeasure for kind, score in aggregator.aggregate().items()}


def timed(function, *args) -> tuple[dict[str, float], object]:
    """Wall seconds, and CPU seconds of this process and of the processes it started and waited for: on a
    machine shared with other jobs, the CPU seconds are the work, whatever the wait for a core."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = function(*args)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": cpu_seconds() - cpu}, result


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def ours(predictions: list[str], references: list[str], processes: int) -> dict[str, dict[str, float]]:
    """The evaluate stage's scoring, its per-example pass and its bootstrap timed apart, from cold stems."""
    rouge.TOKENIZER.word_numbers.cache_clear()  # a stage starts with none memoized (forked processes inherit them)
    pairs, per_example = timed(in_processes, evaluation.measured, [predictions, references], processes)
    bootstrap, _ = timed(rouge.aggregate, per_example, BOOTSTRAP_SAMPLES, evaluation.BOOTSTRAP_SEED)
    return {"pairs": pairs, "bootstrap": bootstrap, "all": {key: pairs[key] + bootstrap[key] for key in pairs}}


def evaluate_pass(predictions: list[str], references: list[str], documents: list[str], processes: int) -> None:
    """The evaluate stage's per-example pass since the measures joined it: each prediction's ROUGE and
    abstractiveness against its document (measures.of_prediction) on every core, then the bootstrap."""
    rouge.TOKENIZER.word_numbers.cache_clear()
    per_example = in_processes(measures.of_prediction, [predictions, references, documents], processes)
    rouge.aggregate(per_example, BOOTSTRAP_SAMPLES, evaluation.BOOTSTRAP_SEED)


def lead1_now(documents: list[str], references: list[str], processes: int) -> None:
    """The baseline stage's work: each first sentence, its ROUGE and abstractiveness and the reference's (since the
    measures joined the pass), on every core, then the bootstrap."""
    rouge.TOKENIZER.word_numbers.cache_clear()
    per_example = in_processes(measures.of_lead, [references, documents], processes)
    rouge.aggregate(per_example, BOOTSTRAP_SAMPLES, evaluation.BOOTSTRAP_SEED)


def lead1_before(documents: list[str], references: list[str]) -> None:
    """What the evaluate stage did for lead-1 before the baseline stage: first sentences, then the recipe's scoring
    in one process (rouge_score's tokenizer, BootstrapAggregator)."""
    recipe_rouge([rouge.lead_sentence(document) for document in documents], references)


def measure(rows: int) -> dict:
    """Every path on the same texts, one after another in this process; each row's speed-up is against the
    recipe's scoring, or for the last, against evaluate's work before."""
    texts = xsum_like(rows)
    cores = usable_cores()
    tokens = re.findall(r"[a-z0-9]+", " ".join(texts["prediction"] + texts["reference"]).lower())
    recipe, _ = timed(recipe_rouge, texts["prediction"], texts["reference"])
    serial = ours(texts["prediction"], texts["reference"], 1)
    parallel = ours(texts["prediction"], texts["reference"], cores)
    with_measures, _ = timed(evaluate_pass, texts["prediction"], texts["reference"], texts["document"], cores)
    before, _ = timed(lead1_before, texts["document"], texts["reference"])
    now, _ = timed(lead1_now, texts["document"], texts["reference"], cores)
    evaluate_before = {key: recipe[key] + before[key] for key in recipe}
    none = {"seconds": 0.0, "cpu_seconds": 0.0}
    table = [  # path, times, the times it is compared with
        ("recipe: evaluate's rouge (Punkt lines, RougeScorer with the stemmer, BootstrapAggregator)", recipe, recipe),
        ("ours, 1 process: words tokenized once, LCS in C or bit vectors, bootstrap in blocks", serial["all"], recipe),
        (f"ours, {cores} processes (every usable core): the evaluate stage's scoring", parallel["all"], recipe),
        (f"ours, {cores} processes: the evaluate stage's ROUGE and abstractiveness pass", with_measures, recipe),
        ("lead-1 before: first sentences + the recipe's scoring, 1 process, every evaluate", before, None),
        (f"lead-1 now: the baseline stage, {cores} processes, once for each split", now, None),
        ("lead-1 on a re-evaluation: DVC does not re-run the baseline stage", none, None),
        ("evaluate's CPU work after generation, before: its scoring + lead-1, 1 process", evaluate_before, None),
        (
            f"evaluate's CPU work after generation, now: its scoring, {cores} processes",
            parallel["all"],
            evaluate_before,
        ),
    ]
    # On idle cores: the pairs' CPU seconds in one process shared out among the processes that in_processes starts
    # there (one a ROWS_PER_PROCESS rows at most), the bootstrap on one core as it is
    estimates = {
        str(count): serial["pairs"]["cpu_seconds"] / max(1, min(count, rows // data.ROWS_PER_PROCESS))
        + serial["bootstrap"]["cpu_seconds"]
        for count in (2, 16)
    }
    return {
        "rows": rows,
        "cores": cores,
        "tokens": len(tokens),
        "distinct_words": len(set(tokens)),
        "table": [
            {
                "path": path,
                "seconds": round(times["seconds"], 2),
                "cpu_seconds": round(times["cpu_seconds"], 2),
                "speedup": round(base["seconds"] / times["seconds"], 2) if base else None,
                "cpu_speedup": round(base["cpu_seconds"] / times["cpu_seconds"], 2) if base else None,
            }
            for path, times, base in table
        ],
        "ours_1_process": serial,
        "ours_parallel": parallel,
        "idle_cores_estimate": {
            cores: {"seconds": round(seconds, 2), "speedup": round(recipe["cpu_seconds"] / seconds, 2)}
            for cores, seconds in estimates.items()
        },
    }


def show(report: dict) -> str:
    rows = [
        [
            row["path"],
            f"{row['seconds']:,.2f}",
            f"{row['cpu_seconds']:,.2f}",
            row["speedup"] or "",
            row["cpu_speedup"] or "",
        ]
        for row in report["table"]
    ]
    header = ["path", "seconds", "CPU seconds", "× recipe", "× recipe, CPU seconds"]
    estimates = "; ".join(
        f"{cores} cores {estimate['seconds']:.2f} s, {estimate['speedup']:.1f}× the recipe's CPU seconds"
        for cores, estimate in report["idle_cores_estimate"].items()
    )
    return (
        f"{report['rows']:,} rows, {report['cores']} usable cores; {report['distinct_words']:,} distinct words in "
        f"{report['tokens']:,} prediction and reference tokens (last row: × before, not × recipe)\n\n"
        + markdown_table(header, rows)
        + f"\n\nOn idle cores, from the one-process CPU seconds (the bootstrap on one core): {estimates}"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--rows", type=int, default=XSUM_ROWS["validation"], help="examples (default: %(default)s)")
    options.add_argument("--output", type=Path, default=Path("bench/results/scoring.json"))
    args = options.parse_args()
    report = measure(args.rows)
    save(report, args.output)
    print(show(report))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
