"""ROUGE equals rouge_score's own numbers, computed the way Hugging Face's rouge metric does."""

from rouge_score import rouge_scorer

from summarization import rouge

PREDICTIONS = ["Work starts in May. The council approved a new library.", "Profits fell sharply at the bank."]
REFERENCES = [
    "A new library is to be built after the council approved it. Building begins in May.",
    "The bank reported a fall in profits.",
]


def test_scores_equal_rouge_score_with_stemmer_and_sentence_lines():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    ours = rouge.score_pairs(PREDICTIONS, REFERENCES)
    for scores, prediction, reference in zip(ours, PREDICTIONS, REFERENCES):
        expected = scorer.score(reference.replace(". ", ".\n"), prediction.replace(". ", ".\n"))
        assert scores == {kind: round(value.fmeasure * 100, 4) for kind, value in expected.items()}
    # the first pair has its sentences swapped: rougeLsum matches each sentence, rougeL only one order
    assert ours[0]["rougeLsum"] > ours[0]["rougeL"]


def test_identical_texts_score_100():
    scores = rouge.score_pairs(REFERENCES, REFERENCES)
    assert all(value == 100 for pair in scores for value in pair.values())


def test_aggregate_is_the_bootstrap_middle_with_a_fixed_seed():
    per_example = rouge.score_pairs(PREDICTIONS * 10, REFERENCES * 10)
    first, again = rouge.aggregate(per_example, 200, seed=0), rouge.aggregate(per_example, 200, seed=0)
    assert first == again
    mean = sum(scores["rouge1"] for scores in per_example) / len(per_example)
    assert first["bootstrap"]["rouge1"]["low"] <= first["rouge1"] <= first["bootstrap"]["rouge1"]["high"]
    assert abs(first["rouge1"] - mean) < 2


def test_lead_sentence_uses_punkt():
    assert (
        rouge.lead_sentence("Mr. Smith arrived at 3 p.m. on Monday.\nHe left.")
        == "Mr. Smith arrived at 3 p.m. on Monday."
    )
