"""ROUGE equals rouge_score's own numbers, computed the way Hugging Face's rouge metric does, in one process or
several."""

import os
import random

import numpy as np
import pytest
from rouge_score import rouge_scorer, scoring, tokenizers

from conftest import PROJECT
from summarization import corpus, data, evaluation, measures, rouge
from summarization.config import load_params

PREDICTIONS = ["Work starts in May. The council approved a new library.", "Profits fell sharply at the bank."]
REFERENCES = [
    "A new library is to be built after the council approved it. Building begins in May.",
    "The bank reported a fall in profits.",
]
# What a tokenizer and a stemmer meet: unicode, punctuation, numbers, empty and blank texts, suffixes, long texts
VARIED = [
    "",
    "   \n ",
    "... !!! -- ?",
    "Café owners in Zürich say naïve rules cost €3.5m — “unfair”, they said.",
    "北京 announced 5G plans; Ελλάδα and Россия did not. 🙂",
    "The 2024-25 budget rose 3.5% to £1,200,000 on 12/03/2025 at 10:30 GMT.",
    "Don't re-enter the U.S.-led coalition's H.Q. at St. Mary's, Mr. O'Neill said.",
    "Running runners ran; generously generalised generalizations connected connections CONNECTING.",
    "A\nsummary\n\nover several\nlines.",
    "ABC abc AbC 123abc abc123 x1 y22 zz333 caresses ponies ties caress cats feed agreed",
    "The cat sat. The dog ran. The cat ran. The dog sat.",  # repeated words: several LCS of the same length
    "Dog ran the cat sat. Sat the dog, ran the cat!",
]
# Words of random texts: stems, numbers, unicode, punctuation alone and attached, repeats, newlines and blank lines
RANDOM_WORDS = (
    "the a cat cats running runs ran run 3 3.5 2,000 café naïve Zürich 北京 — ... , . ! ? it's U.S. generously "
    "generalised connection connected İstanbul \u212aelvin"
).split() + ["\n", "\n\n", " \n ", "."]
SCORES_OF_RECIPE = rouge_scorer.RougeScorer(list(rouge.ROUGE_TYPES), use_stemmer=True)


def embedded_rows(count: int) -> tuple[list[str], list[str]]:
    """Documents (hundreds of words each) and their summaries from the embedded corpus."""
    cfg = load_params(PROJECT / "params.yaml").fetch.embedded.model_copy(update={"train_size": count})
    train = corpus.generate(cfg)["train"]
    return train.column("document").to_pylist(), train.column("summary").to_pylist()


def test_scores_equal_rouge_score_with_stemmer_and_sentence_lines():
    ours = [rouge.pair_scores(p, r) for p, r in zip(PREDICTIONS, REFERENCES)]
    for scores, prediction, reference in zip(ours, PREDICTIONS, REFERENCES):
        expected = SCORES_OF_RECIPE.score(reference.replace(". ", ".\n"), prediction.replace(". ", ".\n"))
        assert scores == {kind: round(value.fmeasure * 100, 4) for kind, value in expected.items()}
    # the first pair has its sentences swapped: rougeLsum matches each sentence, rougeL only one order
    assert ours[0]["rougeLsum"] > ours[0]["rougeL"]


def test_stemming_each_word_once_gives_rouge_scores_tokens_and_scores_to_the_last_digit():
    documents, summaries = embedded_rows(20)
    texts = VARIED + summaries + documents[:5]  # documents: long texts, hundreds of words
    recipe_tokenizer, ours = tokenizers.DefaultTokenizer(use_stemmer=True), rouge.StemOnceTokenizer()
    for text in texts + documents:
        assert ours.tokenize(text) == recipe_tokenizer.tokenize(text)
    pairs = [(p, r) for p in texts for r in texts] + list(zip(documents, summaries))  # every text against each
    for prediction, reference in pairs:
        lined = rouge.sentences_on_lines(reference), rouge.sentences_on_lines(prediction)
        expected = SCORES_OF_RECIPE.score(*lined)
        assert rouge.scores(*lined) == expected  # precision, recall and F-measure, unrounded
        assert rouge.pair_scores(prediction, reference) == {k: round(v.fmeasure * 100, 4) for k, v in expected.items()}


def test_scores_of_random_texts_equal_rouge_scores_to_the_last_digit():
    """Seeded random texts of few distinct words, so that the LCS has many candidates and lines repeat words."""
    draw = random.Random(0)
    for _ in range(400):
        target, prediction = (" ".join(draw.choices(RANDOM_WORDS, k=draw.randrange(0, 40))) for _ in range(2))
        assert rouge.scores(target, prediction) == SCORES_OF_RECIPE.score(target, prediction), (target, prediction)


def test_lcs_indices_are_rouge_scores_longest_common_subsequence():
    """The same LCS where several exist: rouge_score's read-out order from a table of the same numbers."""
    draw = random.Random(0)
    for _ in range(3000):
        ref, can = ([draw.randrange(4) for _ in range(draw.randrange(0, 70))] for _ in range(2))  # 64 bits and more
        assert rouge.lcs_indices(ref, can) == rouge_scorer.lcs_ind(ref, can), (ref, can)


def test_identical_texts_score_100():
    assert all(value == 100 for r in REFERENCES for value in rouge.pair_scores(r, r).values())


@pytest.mark.parametrize("rows, samples, seed", [(1, 100, 0), (7, 1000, 0), (333, 250, 5), (3000, 100, 0)])
def test_aggregate_is_bootstrap_aggregators_numbers_to_the_last_bit(rows, samples, seed):
    values = np.random.default_rng(rows).uniform(0, 100, (rows, len(rouge.ROUGE_TYPES))).round(4)
    per_example = [dict(zip(rouge.ROUGE_TYPES, map(float, row))) for row in values]
    aggregator = scoring.BootstrapAggregator(n_samples=samples)
    for scores in per_example:
        aggregator.add_scores({kind: scoring.Score(0, 0, value) for kind, value in scores.items()})
    np.random.seed(seed)
    expected = aggregator.aggregate()
    generator = np.random.RandomState(seed)
    for kind in rouge.ROUGE_TYPES:
        low, mid, high = expected[kind].low.fmeasure, expected[kind].mid.fmeasure, expected[kind].high.fmeasure
        assert rouge.bootstrap([scores[kind] for scores in per_example], samples, generator).tolist() == [
            low,
            mid,
            high,
        ]
    np.random.seed(seed + 1)
    state = np.random.get_state()
    summary = rouge.aggregate(per_example, samples, seed)
    # numpy's global generator is where it was: the bootstrap draws from its own
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), state, strict=True))
    assert summary["rouge2"] == round(expected["rouge2"].mid.fmeasure, 4)
    assert summary["bootstrap"]["rougeL"]["high"] == round(expected["rougeL"].high.fmeasure, 4)


def test_aggregate_is_the_bootstrap_middle_with_a_fixed_seed():
    per_example = [rouge.pair_scores(p, r) for p, r in zip(PREDICTIONS * 10, REFERENCES * 10)]
    first, again = rouge.aggregate(per_example, 200, seed=0), rouge.aggregate(per_example, 200, seed=0)
    assert first == again
    mean = sum(scores["rouge1"] for scores in per_example) / len(per_example)
    assert first["bootstrap"]["rouge1"]["low"] <= first["rouge1"] <= first["bootstrap"]["rouge1"]["high"]
    assert abs(first["rouge1"] - mean) < 2


def test_processes_score_as_one_process_does(monkeypatch):
    documents, references = embedded_rows(60)
    predictions = [rouge.lead_sentence(document) for document in documents]
    lengths = [len(prediction.split()) for prediction in predictions]
    one = evaluation.score_summaries(predictions, lengths, references, 200, processes=1)
    monkeypatch.setattr(data, "ROWS_PER_PROCESS", 10)  # 60 rows: chunks of 4 rows to 2 processes
    assert evaluation.score_summaries(predictions, lengths, references, 200, processes=2) == one
    leads = data.in_processes(measures.of_lead, [references, documents], 2)
    assert [{"lead": lead["lead"]} | {k: lead[k] for k in rouge.ROUGE_TYPES} for lead in leads] == [
        {"lead": p} | scores for p, scores in zip(predictions, one[0], strict=True)
    ]
    assert all(lead["coverage"] == 1 and lead["novel_2"] == 0 for lead in leads)  # lead-1 copies its document
    batches = [documents[:25], documents[25:]]  # documents read a batch at a time, in the same pass as ROUGE
    measured = data.in_processes_by_batch(measures.of_prediction, [predictions, references], batches, 2)
    assert measured == [{k: v for k, v in lead.items() if k not in ("lead", "reference_measures")} for lead in leads]
    assert os.getpid() not in set(data.in_processes(process_id, [range(60)], 2))  # scored elsewhere


def process_id(_: int) -> int:
    return os.getpid()


def test_lead_sentence_uses_punkt():
    assert (
        rouge.lead_sentence("Mr. Smith arrived at 3 p.m. on Monday.\nHe left.")
        == "Mr. Smith arrived at 3 p.m. on Monday."
    )
