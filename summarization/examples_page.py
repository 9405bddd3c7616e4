"""The examples page: one self-contained HTML file (no server, no network) showing each example's document, reference
and summaries, with what each summary copied from the document marked (Newsroom's greedy fragments, the ones
coverage and density count, in the same colour in the summary and the document), its novel words underlined and the
names and numbers its document lacks (novel_names) marked apart; each example's measures, to sort and filter by.

Every text is untrusted (a colleague's data): it travels as JSON in a <script> element (markup.script_json) and the
page's script puts it in the document as text nodes, never as HTML. The page shows PAGE_ROWS examples at a time, so
that XSum's 11,332 rows open in a second or two; a split of more than MAX_EXAMPLES rows is sampled evenly, and the
page says so."""

import re
from collections.abc import Iterable
from importlib import resources

from summarization import abstractiveness
from summarization.markup import html_text, script_json

MAX_EXAMPLES = 12_000  # XSum's validation and test splits whole (11,332 and 11,334 rows): ~35 MB of page
PLACEHOLDER = re.compile(r"\{\{(title|note|settings|examples)\}\}")
NOVEL_WORD, NOVEL_NAME = -1, -2  # a mark's kind; 0 and up number the summary's copied fragments


def sampled(rows: int, limit: int = MAX_EXAMPLES) -> list[int]:
    """The row numbers the page shows: all of them, or `limit` evenly spaced ones (the same for the same count)."""
    return list(range(rows)) if rows <= limit else [row * rows // limit for row in range(limit)]


def marks(summary: str, document: str) -> tuple[list[list[int]], list[list[int]]]:
    """Where to mark `summary` and `document`, as [start, end, kind] character ranges: in the summary each copied
    fragment (kind: its number), each novel word (NOVEL_WORD) and each novel name or number (NOVEL_NAME); in the
    document where each fragment was copied from (kind: the fragment's number). Words are the measures' (the
    summary's words outside every fragment are its novel unigrams)."""
    summary_words = list(abstractiveness.NAME_WORD.finditer(summary))
    document_words = list(abstractiveness.NAME_WORD.finditer(document))
    summary_lower = [word.group().lower() for word in summary_words]
    document_lower = [word.group().lower() for word in document_words]
    positions = abstractiveness.word_positions(summary_lower, document_lower)
    in_summary, in_document, copied = [], [], set()
    for number, (start, position, length) in enumerate(
        abstractiveness.fragments(summary_lower, document_lower, positions)
    ):
        in_summary.append([summary_words[start].start(), summary_words[start + length - 1].end(), number])
        in_document.append([document_words[position].start(), document_words[position + length - 1].end(), number])
        copied.update(range(start, start + length))
    for index, word in enumerate(summary_words):
        if index not in copied:
            kind = NOVEL_NAME if abstractiveness.is_name(summary, word) else NOVEL_WORD
            in_summary.append([word.start(), word.end(), kind])
    return sorted(in_summary), in_document


def example(id_: str, document: str, texts: Iterable[tuple[str, str]], measures: list[float]) -> dict:
    """One example as the page's script reads it: its id, document, each (label, text) with its marks and the
    fragments' places in the document, and its measures in the page's column order."""
    shown = []
    for label, text in texts:
        in_text, in_document = marks(text, document)
        shown.append([label, text, in_text, in_document])
    return {"id": str(id_), "document": document, "texts": shown, "measures": measures}


def page(title: str, note: str, columns: list[str], examples: list[dict], sort: str, descending: bool) -> str:
    """The page: `columns` name each example's measures, `sort` is the one it opens sorted by; `note` says what
    the page shows (a sample, the revisions)."""
    template = resources.files("summarization").joinpath("examples_page.html").read_text()
    values = {
        "title": html_text(title),
        "note": html_text(note),
        "settings": script_json({"columns": columns, "sort": sort, "descending": descending}),
        "examples": script_json(examples),
    }
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)  # in one pass: no text is read twice


# The measures an evaluation's page shows of each example, sorts and filters by: the prediction's (as
# data/predictions.jsonl holds them), then the reference's (data/lead1.jsonl's reference_measures)
PREDICTION_MEASURES = ("rougeL", "rouge1", "rouge2", "novel_names", "novel_2", "coverage", "density")
REFERENCE_MEASURES = ("novel_names", "novel_2", "coverage")
COMPARED_MEASURES = ("rougeL", "rouge2", "novel_names", "novel_2", "coverage")  # of each revision, A then B


def evaluation_page(
    title: str, note: str, predictions: list[dict], reference_measures: list[dict], documents: list[str]
) -> str:
    """The page of one evaluation: each row of data/predictions.jsonl with its reference's measures and its
    document, worst ROUGE-L first."""
    columns = [*PREDICTION_MEASURES, "words", *(f"ref. {name}" for name in REFERENCE_MEASURES), "doc. words"]
    shown = [
        example(
            row["id"],
            document,
            [("reference", row["reference"]), ("prediction", row["prediction"])],
            [row[name] for name in PREDICTION_MEASURES]
            + [words(row["prediction"])]
            + [reference[name] for name in REFERENCE_MEASURES]
            + [words(document)],
        )
        for row, reference, document in zip(predictions, reference_measures, documents, strict=True)
    ]
    return page(title, note, columns, shown, "rougeL", descending=False)


def comparison_page(title: str, note: str, pairs: list[tuple[dict, dict]], documents: list[str], by: str) -> str:
    """Two revisions' predictions of the same examples side by side, the examples their change moved most (the
    absolute change of `by`, B - A, as significance --examples ranks them) first."""
    # a revision evaluated before a measure existed lacks it: the page shows those both have
    names = [name for name in COMPARED_MEASURES if all(name in a and name in b for a, b in pairs)]
    columns = ["moved", f"change ({by})", *(f"{side} {name}" for name in names for side in "AB")]
    shown = [
        example(
            a["id"],
            document,
            [("reference", a["reference"]), ("A", a["prediction"]), ("B", b["prediction"])],
            [abs(b[by] - a[by]), b[by] - a[by], *(row[name] for name in names for row in (a, b))],
        )
        for (a, b), document in zip(pairs, documents, strict=True)
    ]
    return page(title, note, columns, shown, "moved", descending=True)


def words(text: str) -> int:
    """A text's length in the measures' words."""
    return len(abstractiveness.words(text))


def sample_note(shown: int, rows: int) -> str:
    """What the page says of its rows: all of them, or a sample."""
    if shown == rows:
        return f"all {rows:,} examples"
    return f"{shown:,} of {rows:,} examples, evenly spaced (at most {MAX_EXAMPLES:,}: summarization/examples_page.py)"
