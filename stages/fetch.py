"""Stage fetch: write the raw train/validation/test splits to data/raw/ (id, document, summary)."""
from stages import sources
from stages.cli import report, run_stage
from stages.config import RAW_DIR, load_params
from stages.data import write_split
from stages.outputs import atomic_dir


def fetch() -> None:
    params = load_params()
    splits = sources.load_splits(params.fetch)
    with atomic_dir(RAW_DIR) as staging:
        for split, table in splits.items():
            write_split(table, staging, split)
    counts = ", ".join(f"{table.num_rows} {split}" for split, table in splits.items())
    report("fetch", f"wrote {counts} rows from source {params.fetch.source} to {RAW_DIR}/")


if __name__ == "__main__":
    run_stage(fetch)
