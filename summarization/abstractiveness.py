"""How abstractive a summary is beside its document: the share of its n-grams that the document lacks (novel
n-grams, Narayan et al. 2018, Table 2), its extractive fragments' coverage, density and compression (Grusky et
al. 2018, Newsroom: Algorithm 1), and the share of its n-grams that repeat an earlier one within it (Welleck et
al. 2020, seq-rep-n). Words are ROUGE's without its stemmer: lower-cased runs of a-z and 0-9.

Shares count n-gram occurrences, not distinct n-grams as SummEval's DataStatsMetric does: so the novel share
never falls as n grows, and a non-empty summary's coverage is 1 - its novel unigram share. Edge cases, so every
measure is a number: every measure of an empty summary is 0 (Newsroom's convention for coverage, density and
compression); against an empty document a summary's n-grams are all novel and its coverage, density and
compression are 0; a summary of fewer than n words counts as one n-gram, itself; a summary longer than its
document needs no rule (compression < 1)."""

import re
from collections import Counter
from collections.abc import Iterable

MAX_N = 4  # n-grams of 1 to 4 words, as the XSum paper's Table 2
NOVEL = tuple(f"novel_{n}" for n in range(1, MAX_N + 1))
REPEATED = tuple(f"repeated_{n}" for n in range(1, MAX_N + 1))
FIELDS = (*NOVEL, "coverage", "density", "compression", *REPEATED)
# The means the metrics files hold, few so that `dvc metrics show` stays under ~45 columns; all of them are in
# reports/abstractiveness.json and the model card
DATA_METRICS = ("novel_2", "density")  # each split's references, in metrics/data.json
MODEL_METRICS = ("novel_2", "coverage", "density", "repeated_2")  # the predictions', beside ROUGE
LEAD_METRICS = ("density",)  # lead-1's novel shares are 0 and its coverage 1, by construction
# rouge_score's tokenizer without a stemmer (lower-case, non-alphanumerics to spaces, split, drop empties) in one
# regular expression: the same words (tests/test_abstractiveness.py), 4x faster on XSum's documents (BENCHMARKS.md)
WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words every measure counts: ROUGE's tokens, unstemmed (a different word form is a novel word)."""
    return WORD.findall(text.lower())


def measures(summary: str, document: str) -> dict[str, float]:
    """Every measure of one summary against its document, keyed by FIELDS: shares in [0, 1], density in words,
    compression in document words per summary word."""
    return measures_of_words(words(summary), words(document))


def measures_of_words(summary: list[str], document: list[str]) -> dict[str, float]:
    """measures() of texts already split into words: a document split once serves several summaries."""
    if not summary:
        return dict.fromkeys(FIELDS, 0.0)
    positions: dict[str, list[int]] = {word: [] for word in summary}  # where matches can start in the document
    for position, word in enumerate(document):
        if word in positions:
            positions[word].append(position)
    fragments = fragment_lengths(summary, document, positions)
    found = found_lengths(summary, document, positions)
    result = {}
    for n in range(1, MAX_N + 1):
        size = min(n, len(summary))
        starts = range(len(summary) - size + 1)
        result[f"novel_{n}"] = sum(found[start] < size for start in starts) / len(starts)
        grams = [tuple(summary[start : start + size]) for start in starts]
        result[f"repeated_{n}"] = 1 - len(set(grams)) / len(grams)
    result["coverage"] = sum(fragments) / len(summary)
    result["density"] = sum(length * length for length in fragments) / len(summary)
    result["compression"] = len(document) / len(summary)
    return {field: result[field] for field in FIELDS}


def match_length(summary: list[str], start: int, document: list[str], position: int, limit: int) -> int:
    """How many words, up to `limit`, from summary[start] on equal those from document[position] on."""
    length = 0
    while length < limit and start + length < len(summary) and position + length < len(document):
        if summary[start + length] != document[position + length]:
            break
        length += 1
    return length


def fragment_lengths(summary: list[str], document: list[str], positions: dict[str, list[int]]) -> list[int]:
    """The lengths of the extractive fragments, as Newsroom's Algorithm 1 finds them: from each summary word not
    yet in a fragment, the longest match in the document, scanning it left to right and resuming each scan after
    the match just found (so a longer match overlapping it is passed over, as in the paper and its code)."""
    lengths, start = [], 0
    while start < len(summary):
        best = resume = 0
        for position in positions[summary[start]]:
            if position >= resume:
                length = match_length(summary, start, document, position, len(summary))
                best, resume = max(best, length), position + length
        if best:
            lengths.append(best)
        start += max(best, 1)
    return lengths


def found_lengths(summary: list[str], document: list[str], positions: dict[str, list[int]]) -> list[int]:
    """For each summary word, the longest run of words from it on that the document holds, up to MAX_N: the
    n-gram starting there is in the document exactly when that run has n words or more."""
    found = []
    for start, word in enumerate(summary):
        limit, best = min(MAX_N, len(summary) - start), 0
        for position in positions[word]:
            best = max(best, match_length(summary, start, document, position, limit))
            if best == limit:
                break
        found.append(best)
    return found


def totals(per_example: Iterable[dict[str, float]]) -> list[float]:
    """Each measure's sum over the examples, in FIELDS' order, then their number: what means() adds up."""
    sums, count = [0.0] * len(FIELDS), 0
    for example in per_example:
        sums = [total + example[field] for total, field in zip(sums, FIELDS, strict=True)]
        count += 1
    return [*sums, count]


def means(batches: Iterable[list[float]], fields: tuple[str, ...] = FIELDS) -> dict[str, float]:
    """Each measure's mean from the totals() of batches, added in their order (the same for any number of
    processes), to 4 decimals as the metrics files hold numbers; 0 with no examples."""
    sums = [sum(column) for column in zip(*batches, strict=True)] or [0.0] * (len(FIELDS) + 1)
    return {field: round(sums[FIELDS.index(field)] / max(sums[-1], 1), 4) for field in fields}


def measure_against(document: str, *summaries: str) -> list[dict[str, float]]:
    """measures() of each summary against one document, to 4 decimals as per-example ROUGE is written; the
    document is split into words once for all of them."""
    document_words = words(document)
    return [
        {field: round(value, 4) for field, value in measures_of_words(words(summary), document_words).items()}
        for summary in summaries
    ]


COVERAGE_BINS = 20  # bins of 0.05, and one more for the summaries whose every word is in the document


def coverage_histogram(measured: dict[str, list[dict]]) -> list[dict]:
    """How many summaries of each name (predictions, references) have each extractive coverage, in bins, for
    `dvc plots`."""
    counts = {
        name: Counter(min(int(m["coverage"] * COVERAGE_BINS), COVERAGE_BINS) for m in examples)
        for name, examples in measured.items()
    }
    return [
        {"coverage": f"{bin_ / COVERAGE_BINS:.2f}", **{name: c[bin_] for name, c in counts.items()}}
        for bin_ in range(COVERAGE_BINS + 1)
    ]
