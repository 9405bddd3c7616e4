"""Stage examples: the page of the evaluation's examples, reports/examples.html (summarization/examples_page.py):
each document, reference and prediction, what the prediction copied and invented marked, sorted and filtered by
each example's measures. Its own stage, so that a change to the page re-runs no evaluation."""

from summarization import examples_page
from summarization.cli import report, run_stage
from summarization.config import EXAMPLES_PAGE, LEAD1_FILE, PREDICTIONS_FILE, RAW_DIR, load_params
from summarization.data import documents_of
from summarization.errors import UserError
from summarization.outputs import write_text
from summarization.significance import read_predictions


def examples() -> None:
    split = load_params().evaluate.split
    predictions = read_predictions("workspace")
    leads = read_predictions("workspace", LEAD1_FILE)
    rows = list(predictions.values())
    shown = [rows[number] for number in examples_page.sampled(len(rows))]
    if missing := next((row["id"] for row in shown if row["id"] not in leads), None):
        raise UserError(f"{LEAD1_FILE} has no id {missing!r} of {PREDICTIONS_FILE}: run dvc repro")
    documents = documents_of(RAW_DIR, split, [row["id"] for row in shown], f"{PREDICTIONS_FILE}'s")
    note = f"{split} split, {examples_page.sample_note(len(shown), len(rows))}"
    page = examples_page.evaluation_page(
        "Examples", note, shown, [leads[row["id"]]["reference_measures"] for row in shown], documents
    )
    write_text(EXAMPLES_PAGE, page)
    report("examples", f"wrote {EXAMPLES_PAGE} ({note}; {len(page) / 1e6:.1f} MB)")


if __name__ == "__main__":
    run_stage(examples)
