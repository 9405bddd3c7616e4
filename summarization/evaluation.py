"""How summaries are scored against their references: the protocol the evaluate stage reports, and
the one the train stage applies to the validation split to compare its evaluations."""

from summarization import rouge

BOOTSTRAP_SEED = 0  # fixed, so the same predictions always give the same interval


def score_summaries(
    predictions: list[str], lengths: list[int], references: list[str], bootstrap_samples: int
) -> tuple[list[dict[str, float]], dict]:
    """Per-example ROUGE, and the scores over all examples: ROUGE (the bootstrap's middle estimate, its
    95% interval under `bootstrap`), gen_len (mean generated tokens, the recipe's) and n."""
    per_example = rouge.score_pairs(predictions, references)
    scores = rouge.aggregate(per_example, bootstrap_samples, BOOTSTRAP_SEED)
    scores |= {"gen_len": round(sum(lengths) / len(lengths), 4), "n": len(predictions)}
    return per_example, scores
