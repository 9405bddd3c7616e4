"""How summaries are scored against their references: the protocol the evaluate stage reports, the one the train
stage applies to the validation split to compare its evaluations, and the one the baseline stage scores lead-1 by.
Each example is measured by one function of its texts, in processes across the cores (data.in_processes)."""

from collections.abc import Iterable

from summarization import abstractiveness, rouge
from summarization.data import in_processes, with_rows_of

BOOTSTRAP_SEED = 0  # fixed, so the same predictions always give the same interval


def measured(prediction: str, reference: str, document: str | None = None) -> dict[str, float]:
    """What is measured of one summary: its ROUGE against its reference and, given its document, how abstractive
    it is (abstractiveness.FIELDS)."""
    scores = rouge.pair_scores(prediction, reference)
    return scores if document is None else scores | abstractiveness.measure_against(document, prediction)[0]


def lead_measured(reference: str, document: str) -> dict:
    """The lead-1 baseline of one example, its document's first sentence (`lead`), with what `measured` gives it,
    and the reference's abstractiveness against the same document under `reference_measures`."""
    lead = rouge.lead_sentence(document)
    of_lead, of_reference = abstractiveness.measure_against(document, lead, reference)
    return {"lead": lead} | rouge.pair_scores(lead, reference) | of_lead | {"reference_measures": of_reference}


def score_summaries(
    predictions: list[str],
    lengths: list[int],
    references: list[str],
    bootstrap_samples: int,
    processes: int,
    documents: Iterable[list[str]] | None = None,
) -> tuple[list[dict[str, float]], dict]:
    """Per-example measures, and the scores over all examples: ROUGE (the bootstrap's middle estimate, its 95%
    interval under `bootstrap`), gen_len (mean generated tokens, the recipe's) and n. Given the documents (a batch
    at a time, data.column_batches), each prediction's abstractiveness too, in the same pass."""
    columns = [predictions, references]
    batches = [columns] if documents is None else with_rows_of(columns, documents)
    per_example = [example for batch in batches for example in in_processes(measured, batch, processes)]
    scores = rouge.aggregate(per_example, bootstrap_samples, BOOTSTRAP_SEED)
    scores |= {"gen_len": round(sum(lengths) / len(lengths), 4), "n": len(predictions)}
    return per_example, scores
