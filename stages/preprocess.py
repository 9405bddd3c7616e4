"""Stage preprocess: tokenize every split into data/tokenized/ (with the tokenizer that made it); write
the share of truncated rows to metrics/data.json, and token-length percentiles to reports/token_lengths.json.
(How abstractive the reference summaries are is the baseline stage's to measure.)"""

from summarization import tokenizing
from summarization.cli import report, run_stage
from summarization.config import EMBEDDED, METRICS_DIR, RAW_DIR, SPLITS, TOKEN_LENGTHS_FILE, TOKENIZED_DIR, load_params
from summarization.data import check_room, check_targets_kept, encode_split, provenance, read_batches, split_file
from summarization.outputs import atomic_dir, write_json


def preprocess() -> None:
    params = load_params()
    cfg = params.preprocess
    raw = {split: read_batches(RAW_DIR, split) for split in SPLITS}
    if params.model.checkpoint == EMBEDDED:
        tokenizer = tokenizing.build_embedded_tokenizer(
            read_batches(RAW_DIR, "train"), cfg.prefix, params.model.embedded.vocab_size
        )
    else:
        tokenizer = tokenizing.load_tokenizer(params.model)
    check_room(tokenizer, cfg)
    with atomic_dir(TOKENIZED_DIR) as staging:
        tokenizer.save_pretrained(staging / "tokenizer")  # train and evaluate read ids with this exact tokenizer
        token_lengths = {
            split: encode_split(batches, tokenizer, cfg, staging, split, provenance(split_file(RAW_DIR, split), params))
            for split, batches in raw.items()
        }
        check_targets_kept(token_lengths["train"], cfg)
    metrics = {split: lengths.truncation(cfg) for split, lengths in token_lengths.items()}
    write_json(METRICS_DIR / "data.json", metrics)
    write_json(TOKEN_LENGTHS_FILE, {split: lengths.percentiles() for split, lengths in token_lengths.items()})
    report(
        "preprocess",
        f"wrote {sum(m['rows'] for m in metrics.values())} tokenized rows (vocabulary {len(tokenizer)}, "
        f"{metrics['train']['source_truncated']:.1%} of train documents and "
        f"{metrics['train']['target_truncated']:.1%} of summaries truncated) to {TOKENIZED_DIR}/",
    )


if __name__ == "__main__":
    run_stage(preprocess)
