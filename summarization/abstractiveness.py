"""How abstractive a summary is beside its document: the share of its n-grams that the document lacks (novel
n-grams, Narayan et al. 2018, Table 2), its extractive fragments' coverage, density and compression (Grusky et
al. 2018, Newsroom: Algorithm 1), and the share of its n-grams that repeat an earlier one within it (Welleck et
al. 2020, seq-rep-n), and the share of its names and numbers that the document lacks (novel_names: a model-free
proxy of the entity hallucination that Nan et al. 2021 measure with NER; docs/evaluation.md). Words are ROUGE's
without its stemmer: lower-cased runs of a-z and 0-9.

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
FIELDS = (*NOVEL, "coverage", "density", "compression", *REPEATED, "novel_names")
# The means the metrics files hold, few so that `dvc metrics show` stays under ~45 columns; all of them are in
# reports/abstractiveness.json and the model card
REFERENCE_METRICS = ("novel_2", "novel_names", "density")  # the evaluated split's references'
MODEL_METRICS = ("novel_2", "novel_names", "coverage", "density", "repeated_2")  # the predictions', beside ROUGE
# lead-1's novel shares are 0 and its coverage 1, by construction; novel_names too, listed beside the predictions'
LEAD_METRICS = ("novel_names", "density")
# rouge_score's tokenizer without a stemmer (lower-case, non-alphanumerics to spaces, split, drop empties) in one
# regular expression: the same words (tests/test_abstractiveness.py), 4x faster on XSum's documents (BENCHMARKS.md)
WORD = re.compile(r"[a-z0-9]+")
# The same words in a text's own case (ASCII letters alone change case, as rouge_score's do), where they are
NAME_WORD = re.compile(r"[a-z0-9]+", re.ASCII | re.IGNORECASE)
# Of those, the ones that may be names or numbers: capitalised, or with a digit (so names() looks at few words)
NAME_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z][A-Za-z0-9]*|[A-Za-z]*[0-9][A-Za-z0-9]*)", re.ASCII)
# What may stand between a sentence's end and its first word: spaces, quotes, brackets, dashes
BEFORE_SENTENCE = " \t\n\"'()[]\u2018\u2019\u201c\u201d-\u2013\u2014"


def words(text: str) -> list[str]:
    """The words every measure counts: ROUGE's tokens, unstemmed (a different word form is a novel word)."""
    return WORD.findall(text.lower())


def names(text: str) -> list[str]:
    """The words of `text` that name or count something, lower-cased: numbers (any word with a digit) and
    capitalised words that do not start a sentence (their capital may be grammar's alone)."""
    return [match.group().lower() for match in NAME_CANDIDATE.finditer(text) if is_name(text, match)]


def is_name(text: str, word: re.Match) -> bool:
    """Whether a word of `text` (a NAME_WORD match) is a number or a capitalised word that starts no sentence:
    one that starts `text` or follows a full stop, question or exclamation mark."""
    if any(character.isdigit() for character in word.group()):
        return True
    before = text[: word.start()].rstrip(BEFORE_SENTENCE)
    return word.group()[0].isupper() and bool(before) and before[-1] not in ".!?"


def measures(summary: str, document: str) -> dict[str, float]:
    """Every measure of one summary against its document, keyed by FIELDS: shares in [0, 1], density in words,
    compression in document words per summary word."""
    return measures_of_words(words(summary), words(document), names(summary))


def measures_of_words(summary: list[str], document: list[str], named: list[str]) -> dict[str, float]:
    """measures() of texts already split into words (`named`: the summary's names()): a document split once
    serves several summaries."""
    if not summary:
        return dict.fromkeys(FIELDS, 0.0)
    positions = word_positions(summary, document)
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
    absent = 0
    for word in named:
        # positions holds the summary's words; one that lowering the whole text splits otherwise (İ) is looked up
        where = positions.get(word)
        absent += not where if where is not None else word not in document
    result["novel_names"] = absent / len(named) if named else 0.0
    return {field: result[field] for field in FIELDS}


def word_positions(summary: list[str], document: list[str]) -> dict[str, list[int]]:
    """Where each summary word is in the document: where matches can start."""
    positions: dict[str, list[int]] = {word: [] for word in summary}
    for position, word in enumerate(document):
        if word in positions:
            positions[word].append(position)
    return positions


def match_length(summary: list[str], start: int, document: list[str], position: int, limit: int) -> int:
    """How many words, up to `limit`, from summary[start] on equal those from document[position] on."""
    length = 0
    while length < limit and start + length < len(summary) and position + length < len(document):
        if summary[start + length] != document[position + length]:
            break
        length += 1
    return length


def fragment_lengths(summary: list[str], document: list[str], positions: dict[str, list[int]]) -> list[int]:
    """The lengths of the extractive fragments (`fragments`)."""
    return [length for _, _, length in fragments(summary, document, positions)]


def fragments(summary: list[str], document: list[str], positions: dict[str, list[int]]) -> list[tuple[int, int, int]]:
    """The extractive fragments, as Newsroom's Algorithm 1 finds them, each as where it starts in the summary and
    in the document (the first of its longest matches) and its length in words: from each summary word not yet in
    a fragment, the longest match in the document, scanning it left to right and resuming each scan after the
    match just found (so a longer match overlapping it is passed over, as in the paper and its code)."""
    found, start = [], 0
    while start < len(summary):
        best = resume = at = 0
        for position in positions[summary[start]]:
            if position >= resume:
                length = match_length(summary, start, document, position, len(summary))
                if length > best:
                    best, at = length, position
                resume = position + length
        if best:
            found.append((start, at, best))
        start += max(best, 1)
    return found


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
        {
            field: round(value, 4)
            for field, value in measures_of_words(words(summary), document_words, names(summary)).items()
        }
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
