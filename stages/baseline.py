"""Stage baseline: the lead-1 baseline of the evaluated split (each document's first sentence), scored as the
evaluate stage scores the model, and how abstractive lead-1 and the reference summaries are (the one stage that
measures the references). It depends on the data alone, so DVC runs it once for each split, not again for each
model: write data/lead1.jsonl, metrics/lead1.json, metrics/references.json, reports/baseline_abstractiveness.json
and data/reference_coverage.csv."""

from summarization import abstractiveness, measures, rouge
from summarization.cli import report, run_stage
from summarization.config import (
    BASELINE_ABSTRACTIVENESS_FILE,
    LEAD1_FILE,
    METRICS_DIR,
    RAW_DIR,
    REFERENCE_COVERAGE_FILE,
    load_params,
)
from summarization.data import column_batches, in_processes_by_batch, read_split, usable_cores
from summarization.evaluation import BOOTSTRAP_SEED
from summarization.outputs import together, write_csv, write_json, write_jsonl


def baseline() -> None:
    cfg = load_params().evaluate
    raw = read_split(RAW_DIR, cfg.split, ["id", "summary"])
    references = raw.column("summary").to_pylist()
    documents = column_batches(RAW_DIR, cfg.split, "document")  # a row group at a time: memory does not grow
    per_example = in_processes_by_batch(measures.of_lead, [references], documents, usable_cores())
    of_references = [example["reference_measures"] for example in per_example]
    abstractive = {
        "references": abstractiveness.means([abstractiveness.totals(of_references)]),
        "lead1": abstractiveness.means([abstractiveness.totals(per_example)]),
    }
    scores = rouge.aggregate(per_example, cfg.bootstrap_samples, BOOTSTRAP_SEED)
    with together():  # the per-example file and its means: a failed write keeps the previous set whole
        write_jsonl(
            LEAD1_FILE,
            [
                {"id": id_, "reference": reference} | example
                for id_, reference, example in zip(raw.column("id").to_pylist(), references, per_example, strict=True)
            ],
        )
        write_json(
            METRICS_DIR / "lead1.json",
            {kind: scores[kind] for kind in rouge.ROUGE_TYPES}
            | {field: abstractive["lead1"][field] for field in abstractiveness.LEAD_METRICS},
        )
        write_json(
            METRICS_DIR / "references.json",
            {field: abstractive["references"][field] for field in abstractiveness.REFERENCE_METRICS},
        )
        write_json(BASELINE_ABSTRACTIVENESS_FILE, abstractive)
        write_csv(REFERENCE_COVERAGE_FILE, abstractiveness.coverage_histogram({"references": of_references}))
    report(
        "baseline",
        f"{cfg.split} ({len(references)} rows): lead-1 rouge1 {scores['rouge1']:.2f} rouge2 {scores['rouge2']:.2f} "
        f"rougeL {scores['rougeL']:.2f}; references' novel bigrams {abstractive['references']['novel_2']:.1%}",
    )


if __name__ == "__main__":
    run_stage(baseline)
