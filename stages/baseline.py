"""Stage baseline: the lead-1 baseline of the evaluated split (each document's first sentence), scored as the
evaluate stage scores the model. It depends on the data alone, so DVC runs it once for each split, not again for
each model: write data/lead1.jsonl and metrics/lead1.json."""

from summarization import rouge
from summarization.cli import report, run_command
from summarization.config import LEAD1_FILE, METRICS_DIR, RAW_DIR, load_params
from summarization.data import ROW_GROUP_ROWS, read_batches, read_split, usable_cores
from summarization.evaluation import BOOTSTRAP_SEED, in_processes, lead_measured
from summarization.outputs import write_json, write_jsonl


def baseline() -> None:
    cfg = load_params().evaluate
    raw = read_split(RAW_DIR, cfg.split, ["id", "summary"])
    references = raw.column("summary").to_pylist()
    # The documents a row group at a time, so that memory does not grow with them
    per_example = [
        example
        for batch in read_batches(RAW_DIR, cfg.split, ROW_GROUP_ROWS, ["document", "summary"])
        for example in in_processes(
            lead_measured, [batch.column(name).to_pylist() for name in ("document", "summary")], usable_cores()
        )
    ]
    scores = rouge.aggregate(per_example, cfg.bootstrap_samples, BOOTSTRAP_SEED)
    write_jsonl(
        LEAD1_FILE,
        [
            {"id": id_, "reference": reference} | example
            for id_, reference, example in zip(raw.column("id").to_pylist(), references, per_example, strict=True)
        ],
    )
    write_json(METRICS_DIR / "lead1.json", {kind: scores[kind] for kind in rouge.ROUGE_TYPES})
    report(
        "baseline",
        f"{cfg.split} ({len(references)} rows): lead-1 rouge1 {scores['rouge1']:.2f} rouge2 {scores['rouge2']:.2f} "
        f"rougeL {scores['rougeL']:.2f}",
    )


if __name__ == "__main__":
    run_command(baseline)
