"""Novel n-grams, extractive fragments and repetition, worked by hand from the papers' definitions; lead-1 as the
oracle; and the measures' bounds over random texts, against brute force."""

import json
import random

import pytest
from rouge_score.tokenizers import DefaultTokenizer

from conftest import XSUM_SAMPLE, needs_fixtures
from summarization import abstractiveness, data, rouge
from summarization.abstractiveness import (
    FIELDS,
    MAX_N,
    coverage_histogram,
    means,
    measure_against,
    measures,
    measures_of_words,
    names,
    totals,
    words,
)
from summarization.data import in_processes

SAMPLE = XSUM_SAMPLE.read_text().splitlines() if XSUM_SAMPLE.is_file() else []  # 10 XSum rows (../shared)


def test_fragments_are_the_greedy_longest_matches_and_novel_ngrams_their_complement():
    result = measures("The cat on the mat sat", "the cat sat on the mat")
    # fragments: "the cat" (2), "on the mat" (3), "sat" (1): every word covered
    assert result["coverage"] == 1
    assert result["density"] == pytest.approx((2 * 2 + 3 * 3 + 1 * 1) / 6)
    assert result["compression"] == 1
    # the document holds bigrams "the cat", "on the", "the mat" but not "cat on", "mat sat"; of the trigrams
    # only "on the mat"; none of the 4-grams
    assert [result[f"novel_{n}"] for n in range(1, 5)] == pytest.approx([0, 2 / 5, 3 / 4, 1])
    assert result["repeated_1"] == pytest.approx(1 / 6)  # "the" twice in 6 words
    assert result["repeated_2"] == 0


def test_fragments_follow_newsrooms_scan_and_novel_ngrams_any_occurrence():
    # Algorithm 1 resumes its scan of the document after each match: "a a" at 0 hides "a a b" at 1. The fragments
    # are "a a" and "b" (Newsroom's code agrees); the trigram "a a b" is in the document all the same.
    result = measures("a a b", "a a a b")
    assert result["density"] == pytest.approx((2 * 2 + 1) / 3)
    assert result["novel_3"] == 0


def test_names_are_numbers_and_capitalised_words_that_start_no_sentence():
    text = 'Theresa May said on Tuesday that 1,200 jobs at "BBC Scotland" go. "The PM agreed," the Times said.'
    assert names(text) == ["may", "tuesday", "1", "200", "bbc", "scotland", "pm", "times"]
    assert names("") == [] and names("3 jobs went.") == ["3"] and names("— Police said") == []


def test_novel_names_is_the_share_of_names_and_numbers_the_document_lacks():
    document = "France won three games in Paris against the uk on Monday."
    # names: UK (in the document, lower-cased), 3 (spelled out there: absent), France and Paris (present)
    assert measures("The UK lost 3 games to France in Paris.", document)["novel_names"] == 1 / 4
    assert measures("The team lost.", document)["novel_names"] == 0  # no names: none invented
    assert measures("Wales won 2-1 in Cardiff.", document)["novel_names"] == 1  # Wales, 2, 1, Cardiff
    assert measure_against(document, "France won three games in Paris against the uk")[0]["novel_names"] == 0


def test_repeated_words():
    result = measures("the the the", "the")
    assert result["coverage"] == 1 and result["density"] == 1  # three one-word fragments
    assert result["compression"] == pytest.approx(1 / 3)
    assert [result[f"novel_{n}"] for n in range(1, 5)] == [0, 1, 1, 1]  # "the the" is not in the document
    assert result["repeated_1"] == pytest.approx(2 / 3)
    assert result["repeated_2"] == pytest.approx(1 / 2)
    assert result["repeated_3"] == result["repeated_4"] == 0  # one trigram; no 4-gram: the summary itself


def test_summary_longer_than_its_document():
    result = measures("a b c a b c", "a b c")
    assert result["coverage"] == 1
    assert result["density"] == 3  # two fragments of 3 words over 6 words
    assert result["compression"] == 0.5
    # only the n-grams across the seam ("c a", "b c a", "c a b", ...) are novel
    assert [result[f"novel_{n}"] for n in range(1, 5)] == pytest.approx([0, 1 / 5, 2 / 4, 3 / 3])
    assert result["repeated_2"] == pytest.approx(1 - 3 / 5)


def test_empty_texts():
    assert measures("", "a document") == dict.fromkeys(FIELDS, 0.0)
    assert measures("...", "a document") == dict.fromkeys(FIELDS, 0.0)  # punctuation alone has no words
    against_nothing = measures("two words", "")
    assert all(against_nothing[f"novel_{n}"] == 1 for n in range(1, 5))
    assert against_nothing["coverage"] == against_nothing["density"] == against_nothing["compression"] == 0


def test_a_summary_shorter_than_n_is_its_own_ngram():
    assert [measures("x", "a b")[f"novel_{n}"] for n in range(1, 5)] == [1, 1, 1, 1]
    assert [measures("a x", "a b")[f"novel_{n}"] for n in range(1, 5)] == [0.5, 1, 1, 1]
    assert [measures("a b", "a b")[f"novel_{n}"] for n in range(1, 5)] == [0, 0, 0, 0]


def test_words_are_rouges_lower_cased_and_unstemmed():
    texts = ["Ça coûte 2,5€ — l'État!", "A\tB\n\nC-3PO's K\u212a", *(json.loads(line)["document"] for line in SAMPLE)]
    assert all(words(text) == DefaultTokenizer(use_stemmer=False).tokenize(text) for text in texts)
    assert words("The U.S. economy's 2.5% GROWTH") == ["the", "u", "s", "economy", "s", "2", "5", "growth"]
    assert measures("THE CAT", "the cat")["coverage"] == 1
    assert measures("cats", "cat")["novel_1"] == 1  # no stemmer: another word form is a novel word


@needs_fixtures
def test_lead_1_is_the_oracle():
    """The document's first sentence is one fragment of its own length: nothing novel, everything covered."""
    for line in SAMPLE:
        document = json.loads(line)["document"]
        lead = rouge.lead_sentence(document)
        result = measures(lead, document)
        assert result["coverage"] == 1
        assert all(result[f"novel_{n}"] == 0 for n in range(1, 5))
        assert result["density"] == len(words(lead))
        assert result["compression"] == len(words(document)) / len(words(lead))


def newsroom_fragments(summary: list[str], document: list[str]) -> list[int]:
    """Algorithm 1 of Grusky et al. (2018) as printed: scan the document for each summary word not yet in a
    fragment, keep the longest match, resume the scan after each match."""
    lengths, i = [], 0
    while i < len(summary):
        best, j = 0, 0
        while j < len(document):
            if summary[i] == document[j]:
                k = 0
                while i + k < len(summary) and j + k < len(document) and summary[i + k] == document[j + k]:
                    k += 1
                best, j = max(best, k), j + k
            else:
                j += 1
        if best:
            lengths.append(best)
        i += max(best, 1)
    return lengths


def test_bounds_and_brute_force_on_random_texts():
    """Coverage in [0, 1], density at most the summary's length, novel shares that never fall as n grows and
    equal brute force over n-gram occurrences, fragments as Algorithm 1 finds them."""
    rng = random.Random(0)
    vocabulary = "a b c d e f".split()  # few words: long shared runs and repeats are common
    for _ in range(400):
        summary = rng.choices(vocabulary, k=rng.randint(0, 12))
        document = rng.choices(vocabulary, k=rng.randint(0, 30))
        result = measures_of_words(summary, document, summary[:2])
        assert 0 <= result["coverage"] <= 1
        assert result["density"] <= max(len(summary), 1)
        assert all(0 <= result[f"repeated_{n}"] < 1 for n in range(1, MAX_N + 1))
        novel = [result[f"novel_{n}"] for n in range(1, MAX_N + 1)]
        assert novel == sorted(novel)
        if not summary:
            continue
        assert result["coverage"] == pytest.approx(1 - result["novel_1"])  # a word the document holds is covered
        fragments = newsroom_fragments(summary, document)
        found = abstractiveness.fragments(summary, document, abstractiveness.word_positions(summary, document))
        assert [length for _, _, length in found] == fragments  # and where each is, in both texts (the page's marks)
        assert all(summary[at : at + n] == document[where : where + n] for at, where, n in found)
        assert result["density"] == pytest.approx(sum(f * f for f in fragments) / len(summary))
        for n in range(1, MAX_N + 1):
            size = min(n, len(summary))
            grams = [tuple(summary[i : i + size]) for i in range(len(summary) - size + 1)]
            known = {tuple(document[i : i + size]) for i in range(len(document) - size + 1)}
            assert result[f"novel_{n}"] == pytest.approx(sum(g not in known for g in grams) / len(grams))


@needs_fixtures
def test_split_means_do_not_depend_on_batches_or_processes(monkeypatch):
    rows = [json.loads(line) for line in SAMPLE]
    summaries, documents = [row["summary"] for row in rows], [row["document"] for row in rows]
    whole = means([totals(m for [m] in in_processes(measure_against, [documents, summaries], processes=1))])
    monkeypatch.setattr(data, "ROWS_PER_PROCESS", 2)  # batches of 3 and 7 rows: 1 process, then 2
    batches = [[documents[:3], summaries[:3]], [documents[3:], summaries[3:]]]
    in_two = [totals(m for [m] in in_processes(measure_against, batch, processes=2)) for batch in batches]
    assert means(in_two) == whole
    assert whole["novel_2"] == round(sum(measures(s, d)["novel_2"] for s, d in zip(summaries, documents)) / 10, 4)


def test_coverage_histogram_has_bins_of_a_twentieth_and_one_for_whole_copies():
    def measured(*coverages):
        return [{"coverage": coverage} for coverage in coverages]

    rows = coverage_histogram({"predictions": measured(0, 0.049, 0.05, 0.999, 1), "references": measured(1)})
    assert len(rows) == 21 and rows[1] == {"coverage": "0.05", "predictions": 1, "references": 0}
    assert [(row["coverage"], row["predictions"], row["references"]) for row in rows if row["predictions"]] == [
        ("0.00", 2, 0),
        ("0.05", 1, 0),
        ("0.95", 1, 0),
        ("1.00", 1, 1),
    ]
