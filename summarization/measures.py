"""What the evaluate and baseline stages measure of each example in one pass: its summary's ROUGE against the
reference (evaluation.measured) and how abstractive it is against the document (abstractiveness.measure_against).
Apart from evaluation.py, which the train stage runs, so that a change here re-runs no training."""

from summarization import abstractiveness, evaluation, rouge


def of_prediction(prediction: str, reference: str, document: str) -> dict[str, float]:
    """One prediction's ROUGE and abstractiveness (abstractiveness.FIELDS)."""
    return evaluation.measured(prediction, reference) | abstractiveness.measure_against(document, prediction)[0]


def of_lead(reference: str, document: str) -> dict:
    """The lead-1 baseline of one example, its document's first sentence (`lead`), with what of_prediction gives
    it, and the reference's abstractiveness against the same document under `reference_measures`."""
    lead = rouge.lead_sentence(document)
    of_lead, of_reference = abstractiveness.measure_against(document, lead, reference)
    return {"lead": lead} | evaluation.measured(lead, reference) | of_lead | {"reference_measures": of_reference}
