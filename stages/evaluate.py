"""Stage evaluate: summarize the chosen split with the trained model and score it with ROUGE (the lead-1 baseline
beside it is the baseline stage's); write metrics/rouge.json, data/predictions.jsonl and data/summary_lengths.csv."""

from collections import Counter

from summarization import modeling
from summarization.cli import report, run_command
from summarization.config import (
    METRICS_DIR,
    MODEL_DIR,
    PREDICTIONS_FILE,
    RAW_DIR,
    SUMMARY_LENGTHS_FILE,
    TOKENIZED_DIR,
    load_params,
)
from summarization.data import check_made_from, map_tokenized_split, read_split, usable_cores
from summarization.evaluation import score_summaries
from summarization.generation import generate_summaries
from summarization.outputs import write_csv, write_json, write_jsonl


def evaluate() -> None:
    params = load_params()
    cfg = params.evaluate
    tokenizer, model = modeling.load_trained(MODEL_DIR, "run the train stage (dvc repro)")
    check_made_from(TOKENIZED_DIR, RAW_DIR, cfg.split, params)
    # Memory that does not grow with the split's documents: none is read, and the token ids are memory-mapped.
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
    per_example, metrics = score_summaries(predictions, lengths, references, cfg.bootstrap_samples, usable_cores())
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
    write_csv(SUMMARY_LENGTHS_FILE, length_histogram(predictions, references))
    report(
        "evaluate",
        f"{cfg.split} ({len(predictions)} rows): rouge1 {metrics['rouge1']:.2f} rouge2 {metrics['rouge2']:.2f} "
        f"rougeL {metrics['rougeL']:.2f}, gen_len {metrics['gen_len']:.1f}",
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
    run_command(evaluate)
