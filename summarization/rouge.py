"""ROUGE as the recipe reports it (Hugging Face's rouge metric): rouge_score with the stemmer,
rougeLsum over newline-joined Punkt sentences, F-measure x 100, the bootstrap's middle estimate."""

import functools
import re
from collections import Counter

import numpy as np
import punkt
from nltk.stem import porter
from rapidfuzz.distance import LCSseq
from rouge_score import scoring, tokenize, tokenizers

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
CONFIDENCE = 0.95  # of the bootstrap interval, BootstrapAggregator's default
BOOTSTRAP_BLOCK = 1_000_000  # resampled rows drawn at once: 8 MB of row numbers, 8 MB of their scores
WORD = re.compile(r"[a-z0-9]+")  # what rouge_score's tokenize keeps of a lowered text: every other character splits


class StemOnceTokenizer(tokenizers.Tokenizer):
    """rouge_score's own tokenizer with its stemmer (DefaultTokenizer(use_stemmer=True)), each distinct word
    tokenized once: the Porter stemmer was two thirds of scoring, and a corpus repeats its words. rouge_score's
    tokenize lowers a text, splits it at every character outside [a-z0-9] and then treats each word alone (stems
    it if over 3 characters, drops it if invalid), so a text's tokens are its words' tokens in order. Tokens are
    also numbered (one number a distinct token), so that rapidfuzz compares the tokens themselves, not hashes of
    strings that might collide."""

    def __init__(self):
        self.stemmer = porter.PorterStemmer()  # what DefaultTokenizer(use_stemmer=True) passes to tokenize
        self.numbers: dict[str, int] = {}
        self.word_numbers = functools.cache(self.number_word)

    def number_word(self, word: str) -> tuple[int, ...]:
        return tuple(
            self.numbers.setdefault(token, len(self.numbers)) for token in tokenize.tokenize(word, self.stemmer)
        )

    def numbered(self, text: str) -> list[int]:
        """The numbers of the tokens of `text`."""
        return [number for word in WORD.findall(text.lower()) for number in self.word_numbers(word)]

    def tokenize(self, text: str) -> list[str]:
        numbers = self.numbered(text)
        tokens = list(self.numbers)  # in the order they were numbered
        return [tokens[number] for number in numbers]


TOKENIZER = StemOnceTokenizer()


def scores(target: str, prediction: str) -> dict[str, scoring.Score]:
    """RougeScorer(ROUGE_TYPES, use_stemmer=True).score(target, prediction), the same Scores, faster: each line is
    tokenized once (rouge_score tokenizes the whole text, then each line again for rougeLsum: the same tokens,
    since a newline splits words and lowering goes character by character), tokens are compared as numbers, and
    the longest common subsequences are measured by rapidfuzz (C) or by bit vectors (`lcs_indices`) in place of
    rouge_score's pure-Python tables."""
    target_lines = [TOKENIZER.numbered(line) for line in target.split("\n") if line]
    prediction_lines = [TOKENIZER.numbered(line) for line in prediction.split("\n") if line]
    target_tokens = [token for line in target_lines for token in line]
    prediction_tokens = [token for line in prediction_lines for token in line]
    result = {f"rouge{n}": ngram_score(ngrams(target_tokens, n), ngrams(prediction_tokens, n)) for n in (1, 2)}
    result["rougeL"] = lcs_score(LCSseq.similarity(target_tokens, prediction_tokens), target_tokens, prediction_tokens)
    result["rougeLsum"] = lcs_score(summary_lcs(target_lines, prediction_lines), target_tokens, prediction_tokens)
    return result


def ngrams(tokens: list[int], n: int) -> Counter:
    """rouge_score's _create_ngrams, counted by Counter in C."""
    return Counter(zip(*(tokens[k:] for k in range(n))))


def ngram_score(target: Counter, prediction: Counter) -> scoring.Score:
    """rouge_score's Score of n-gram overlap (its private _score_ngrams): the n-grams in common, each counted as
    often as both texts have it."""
    hits = sum((target & prediction).values())
    precision, recall = hits / max(prediction.total(), 1), hits / max(target.total(), 1)
    return scoring.Score(precision=precision, recall=recall, fmeasure=scoring.fmeasure(precision, recall))


def lcs_score(hits: int, target_tokens: list[int], prediction_tokens: list[int]) -> scoring.Score:
    """rouge_score's Score of a (summary-level) LCS of `hits` tokens."""
    if not target_tokens or not prediction_tokens:
        return scoring.Score(precision=0, recall=0, fmeasure=0)
    precision, recall = hits / len(prediction_tokens), hits / len(target_tokens)
    return scoring.Score(precision=precision, recall=recall, fmeasure=scoring.fmeasure(precision, recall))


def summary_lcs(target_lines: list[list[int]], prediction_lines: list[list[int]]) -> int:
    """rouge_score's _summary_level_lcs's hits: for each target line, the union of its LCS with each prediction
    line, each token counted while both texts have one left. Lines without tokens add nothing and are dropped; with
    one line a side the hits are the LCS's length (its tokens are in both texts, none goes uncounted)."""
    target_lines = [line for line in target_lines if line]
    prediction_lines = [line for line in prediction_lines if line]
    if len(target_lines) == 1 and len(prediction_lines) == 1:
        return LCSseq.similarity(target_lines[0], prediction_lines[0])
    target_left = Counter(token for line in target_lines for token in line)
    prediction_left = Counter(token for line in prediction_lines for token in line)
    hits = 0
    for line in target_lines:
        for index in sorted(set().union(*(lcs_indices(line, prediction) for prediction in prediction_lines))):
            token = line[index]
            if target_left[token] > 0 and prediction_left[token] > 0:
                hits += 1
                target_left[token] -= 1
                prediction_left[token] -= 1
    return hits


def lcs_indices(ref: list[int], can: list[int]) -> list[int]:
    """rouge_score's lcs_ind: the indices in `ref` of the LCS its _backtrack_norec reads out of _lcs_table, which
    this does too, but from the table's rows as bit vectors (Hyyrö's bit-parallel LCS: a row in a few integer
    operations, bit j-1 of row i set where table[i][j] == table[i][j-1]) rather than cell by cell in Python."""
    matches = {}
    for j, token in enumerate(can):
        matches[token] = matches.get(token, 0) | 1 << j
    full = (1 << len(can)) - 1
    rows = [full]
    for token in ref:
        row, match = rows[-1], rows[-1] & matches.get(token, 0)
        rows.append(((row + match) | (row - match)) & full)

    def table(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    i, j, indices = len(ref), len(can), []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            indices.append(i - 1)
            i, j = i - 1, j - 1
        elif table(i, j - 1) > table(i - 1, j):
            j -= 1
        else:
            i -= 1
    return indices[::-1]


def sentences_on_lines(text: str) -> str:
    """rougeLsum scores summary-level LCS over lines, so each sentence goes on its own line."""
    return "\n".join(punkt.sent_tokenize(text.strip()))


def lead_sentence(document: str) -> str:
    """The first sentence of a document: the lead-1 baseline."""
    sentences = punkt.sent_tokenize(document.strip())
    return sentences[0] if sentences else ""


def pair_scores(prediction: str, reference: str) -> dict[str, float]:
    """One prediction's F-measures x 100 against its reference, keyed by ROUGE type."""
    return {
        kind: round(score.fmeasure * 100, 4)
        for kind, score in scores(sentences_on_lines(reference), sentences_on_lines(prediction)).items()
    }


def aggregate(per_example: list[dict[str, float]], samples: int, seed: int) -> dict:
    """The bootstrap's middle estimate of each mean, with its 95% interval under `bootstrap`: rouge_score's
    BootstrapAggregator's numbers to the last bit, its resamples drawn in blocks rather than one at a time."""
    # rouge_score resamples with numpy's global generator (a RandomState), seeded, one ROUGE type after another: the
    # same stream from a RandomState of that seed, and numpy's global state is left as it was
    generator = np.random.RandomState(seed)
    low, mid, high = zip(
        *(bootstrap([scores[kind] for scores in per_example], samples, generator) for kind in ROUGE_TYPES)
    )
    summary = {kind: round(float(value), 4) for kind, value in zip(ROUGE_TYPES, mid)}
    summary["bootstrap"] = {
        kind: {"low": round(float(lower), 4), "high": round(float(upper), 4)}
        for kind, lower, upper in zip(ROUGE_TYPES, low, high)
    }
    return summary


def bootstrap(values: list[float], samples: int, generator: np.random.RandomState) -> np.ndarray:
    """BootstrapAggregator's low, mid and high for one ROUGE type, to the last bit and in a fraction of its time.
    Its resamples are np.random.choice(n, size=n), the stream of randint(0, n) that a block of them draws at once;
    its means sum each column of a (rows, 3) matrix from the first row to the last, as a cumulative sum does."""
    values = np.asarray(values, dtype=np.float64)
    means = np.empty(samples)
    block = max(1, BOOTSTRAP_BLOCK // len(values))
    for start in range(0, samples, block):
        rows = generator.randint(0, len(values), size=(min(block, samples - start), len(values)))
        means[start : start + len(rows)] = np.cumsum(values[rows], axis=1)[:, -1] / len(values)
    margin = (1 - CONFIDENCE) / 2
    return np.percentile(means, 100 * np.array([margin, 0.5, 1 - margin]))
