"""Stage evaluate: summarize the chosen split with the trained model, score it with ROUGE and measure how
abstractive it is, in one pass (the lead-1 baseline and the references' measures beside it are the baseline
stage's); write metrics/rouge.json, data/predictions.jsonl, data/summary_lengths.csv, data/coverage.csv and
reports/abstractiveness.json."""

from collections import Counter

from summarization import abstractiveness, measures, modeling
from summarization.cli import report, run_stage
from summarization.config import (
    ABSTRACTIVENESS_FILE,
    COVERAGE_FILE,
    METRICS_DIR,
    MODEL_DIR,
    PREDICTIONS_FILE,
    RAW_DIR,
    SUMMARY_LENGTHS_FILE,
    TOKENIZED_DIR,
    load_params,
)
from summarization.data import (
    check_made_from,
    column_batches,
    in_processes_by_batch,
    map_tokenized_split,
    read_split,
    usable_cores,
)
from summarization.evaluation import summary_scores
from summarization.generation import generate_summaries
from summarization.outputs import together, write_csv, write_json, write_jsonl


def evaluate() -> None:
    params = load_params()
    cfg = params.evaluate
    tokenizer, model = modeling.load_trained(MODEL_DIR, "run the train stage (dvc repro)")
    check_made_from(TOKENIZED_DIR, RAW_DIR, cfg.split, params)
    # Memory that does not grow with the split's documents: they are read a row group at a time, for the
    # abstractiveness measures, and the token ids are memory-mapped.
    raw, tokenized = read_split(RAW_DIR, cfg.split, ["id", "summary"]), map_tokenized_split(TOKENIZED_DIR, cfg.split)
    references = raw.column("summary").to_pylist()
    predictions, lengths = generate_summaries(
        model,
        tokenizer,
        tokenized.column("input_ids"),
        cfg.per_device_eval_batch_size,
        cfg.generation_max_length,
        cfg.num_beams,
    )
    documents = column_batches(RAW_DIR, cfg.split, "document")
    per_example = in_processes_by_batch(measures.of_prediction, [predictions, references], documents, usable_cores())
    metrics = summary_scores(per_example, lengths, cfg.bootstrap_samples)
    abstractive = abstractiveness.means([abstractiveness.totals(per_example)])
    metrics |= {field: abstractive[field] for field in abstractiveness.MODEL_METRICS}
    with together():  # significance pairs predictions with metrics: a failed write keeps the previous set whole
        write_jsonl(
            PREDICTIONS_FILE,
            [
                {"id": id_, "reference": reference, "prediction": prediction} | scores
                for id_, reference, prediction, scores in zip(
                    raw.column("id").to_pylist(), references, predictions, per_example, strict=True
                )
            ],
        )
        write_json(METRICS_DIR / "rouge.json", metrics)
        write_json(ABSTRACTIVENESS_FILE, {"predictions": abstractive})
        write_csv(SUMMARY_LENGTHS_FILE, length_histogram(predictions, references))
        write_csv(COVERAGE_FILE, abstractiveness.coverage_histogram({"predictions": per_example}))
    report(
        "evaluate",
        f"{cfg.split} ({len(predictions)} rows): rouge1 {metrics['rouge1']:.2f} rouge2 {metrics['rouge2']:.2f} "
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
