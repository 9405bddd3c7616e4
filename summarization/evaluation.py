"""How summaries are scored against their references: the protocol the evaluate stage reports, the one the train
stage applies to the validation split to compare its evaluations, and the one the baseline stage scores lead-1 by.
Each example is measured by one function of its texts, in processes across the cores (data.in_processes)."""

from summarization import rouge
from summarization.data import in_processes

BOOTSTRAP_SEED = 0  # fixed, so the same predictions always give the same interval


def measured(prediction: str, reference: str) -> dict[str, float]:
    """What is measured of one summary against its reference: its ROUGE. The evaluate and baseline stages measure
    more of each example in the same pass (summarization/measures.py)."""
    return rouge.pair_scores(prediction, reference)


def score_summaries(
    predictions: list[str], lengths: list[int], references: list[str], bootstrap_samples: int, processes: int
) -> tuple[list[dict[str, float]], dict]:
    """Per-example measures, and the scores over all examples (summary_scores)."""
    per_example = in_processes(measured, [predictions, references], processes)
    return per_example, summary_scores(per_example, lengths, bootstrap_samples)


def summary_scores(per_example: list[dict[str, float]], lengths: list[int], bootstrap_samples: int) -> dict:
    """The scores over all examples: ROUGE (the bootstrap's middle estimate, its 95% interval under `bootstrap`),
    gen_len (mean generated tokens, the recipe's) and n."""
    scores = rouge.aggregate(per_example, bootstrap_samples, BOOTSTRAP_SEED)
    return scores | {"gen_len": round(sum(lengths) / len(lengths), 4), "n": len(per_example)}
