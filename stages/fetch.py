"""Stage fetch: write the raw train/validation/test splits to data/raw/ (id, document, summary)."""

from summarization import sources
from summarization.cli import report, run_stage, warn
from summarization.config import FILES_DIR, RAW_DIR, load_params
from summarization.data import RAW_SCHEMA, write_split
from summarization.outputs import atomic_dir


def fetch() -> None:
    params = load_params()
    if untracked := sources.untracked_files(params.fetch):
        outside = f"outside {FILES_DIR}/, so DVC re-runs nothing when the file changes; move it there"
        warn("fetch", f"{', '.join(untracked)}: {outside}")
    splits = sources.load_splits(params.fetch)
    with atomic_dir(RAW_DIR) as staging:
        rows = {split: write_split(batches, RAW_SCHEMA, staging, split) for split, batches in splits.items()}
    counts = ", ".join(f"{count} {split}" for split, count in rows.items())
    report("fetch", f"wrote {counts} rows from source {params.fetch.source} to {RAW_DIR}/")


if __name__ == "__main__":
    run_stage(fetch)
