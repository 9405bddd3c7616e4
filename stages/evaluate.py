"""Stage evaluate: summarize the chosen split with the trained model, score it with ROUGE and measure how
abstractive it is, in one pass (summarization/model_evaluation.py; the lead-1 baseline and the references' measures
beside it are the baseline stage's); write metrics/rouge.json, data/predictions.jsonl, data/summary_lengths.csv,
data/coverage.csv and reports/abstractiveness.json."""

from collections import Counter

from summarization import abstractiveness, modeling
from summarization.cli import report, run_stage
from summarization.config import (
    ABSTRACTIVENESS_FILE,
    COVERAGE_FILE,
    METRICS_DIR,
    MODEL_DIR,
    PREDICTIONS_FILE,
    SUMMARY_LENGTHS_FILE,
    load_params,
)
from summarization.model_evaluation import evaluate_model
from summarization.outputs import together, write_csv, write_json, write_jsonl


def evaluate() -> None:
    params = load_params()
    tokenizer, model = modeling.load_trained(MODEL_DIR, "run the train stage (dvc repro)")
    rows, metrics, abstractive = evaluate_model(tokenizer, model, params)
    predictions, references = [row["prediction"] for row in rows], [row["reference"] for row in rows]
    with together():  # significance pairs predictions with metrics: a failed write keeps the previous set whole
        write_jsonl(PREDICTIONS_FILE, rows)
        write_json(METRICS_DIR / "rouge.json", metrics)
        write_json(ABSTRACTIVENESS_FILE, {"predictions": abstractive})
        write_csv(SUMMARY_LENGTHS_FILE, length_histogram(predictions, references))
        write_csv(COVERAGE_FILE, abstractiveness.coverage_histogram({"predictions": rows}))
    report(
        "evaluate",
        f"{params.evaluate.split} ({len(rows)} rows): rouge1 {metrics['rouge1']:.2f} rouge2 {metrics['rouge2']:.2f} "
        f"rougeL {metrics['rougeL']:.2f}, gen_len {metrics['gen_len']:.1f}, novel bigrams {metrics['novel_2']:.1%}",
    )


def length_histogram(predictions: list[str], references: list[str]) -> list[dict]:
    """How many predicted and reference summaries have each length in words, for `dvc plots`."""
    counts = {
        name: Counter(len(text.split()) for text in texts)
        for name, texts in (("predictions", predictions), ("references", references))
    }
    longest = max(max(c, default=0) for c in counts.values())
    return [{"words": words, **{name: c[words] for name, c in counts.items()}} for words in range(longest + 1)]


if __name__ == "__main__":
    run_stage(evaluate)
