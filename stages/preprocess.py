"""Stage preprocess: tokenize every split into data/tokenized/ (with the tokenizer that made it) and
write token-length statistics to metrics/data.json."""
from summarization import modeling
from summarization.cli import report, run_stage
from summarization.config import METRICS_DIR, RAW_DIR, SPLITS, TOKENIZED_DIR, load_params
from summarization.data import encode, read_split, write_split
from summarization.outputs import atomic_dir, write_json


def preprocess() -> None:
    params = load_params()
    raw = {split: read_split(RAW_DIR, split) for split in SPLITS}
    if params.model.checkpoint == modeling.EMBEDDED:
        tokenizer = modeling.build_embedded_tokenizer(raw["train"], params.preprocess.prefix,
                                                      params.model.embedded.vocab_size)
    else:
        tokenizer = modeling.load_tokenizer(params.model)
    stats = {}
    with atomic_dir(TOKENIZED_DIR) as staging:
        tokenizer.save_pretrained(staging / "tokenizer")  # train and evaluate read ids with this exact tokenizer
        for split, table in raw.items():
            encoded, stats[split] = encode(table, tokenizer, params.preprocess, split)
            write_split(encoded, staging, split)
    write_json(METRICS_DIR / "data.json", stats)
    report("preprocess", f"wrote {sum(s['rows'] for s in stats.values())} tokenized rows (vocabulary {len(tokenizer)}, "
                         f"{stats['train']['source_tokens']['truncated']:.1%} of train documents truncated) to {TOKENIZED_DIR}/")


if __name__ == "__main__":
    run_stage(preprocess)
