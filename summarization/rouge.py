"""ROUGE as the recipe reports it (Hugging Face's rouge metric): rouge_score with the stemmer,
rougeLsum over newline-joined Punkt sentences, F-measure x 100, the bootstrap's middle estimate."""

import numpy as np
import punkt
from rouge_score import rouge_scorer, scoring

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
SCORER = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def sentences_on_lines(text: str) -> str:
    """rougeLsum scores summary-level LCS over lines, so each sentence goes on its own line."""
    return "\n".join(punkt.sent_tokenize(text.strip()))


def lead_sentence(document: str) -> str:
    """The first sentence of a document: the lead-1 baseline."""
    sentences = punkt.sent_tokenize(document.strip())
    return sentences[0] if sentences else ""


def score_pairs(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """Per-example F-measures x 100, keyed by ROUGE type."""
    return [
        {
            kind: round(score.fmeasure * 100, 4)
            for kind, score in SCORER.score(sentences_on_lines(reference), sentences_on_lines(prediction)).items()
        }
        for prediction, reference in zip(predictions, references, strict=True)
    ]


def aggregate(per_example: list[dict[str, float]], samples: int, seed: int) -> dict:
    """The bootstrap's middle estimate of each mean, with its 95% interval under `bootstrap`."""
    aggregator = scoring.BootstrapAggregator(n_samples=samples)
    for scores in per_example:
        aggregator.add_scores({kind: scoring.Score(0, 0, value) for kind, value in scores.items()})
    np.random.seed(seed)  # rouge_score resamples with numpy's global generator
    result = aggregator.aggregate()
    summary = {kind: round(float(result[kind].mid.fmeasure), 4) for kind in ROUGE_TYPES}
    summary["bootstrap"] = {
        kind: {"low": round(float(result[kind].low.fmeasure), 4), "high": round(float(result[kind].high.fmeasure), 4)}
        for kind in ROUGE_TYPES
    }
    return summary
