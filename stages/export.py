"""Stage export: the shareable model in models/shareable/ (dvc.yaml's artifact `summarizer`): the trained
model with evaluate's prefix, truncation and generation settings, and a model card with its ROUGE."""

from summarization import sharing
from summarization.cli import report, run_stage
from summarization.config import MODEL_DIR, SHAREABLE_DIR, load_params


def export() -> None:
    params = load_params()
    sharing.export(params, MODEL_DIR, SHAREABLE_DIR)
    report("export", f"wrote {SHAREABLE_DIR}/ (model, tokenizer, generation settings, model card README.md)")


if __name__ == "__main__":
    run_stage(export)
