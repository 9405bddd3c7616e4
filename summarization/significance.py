"""Is the ROUGE difference between two revisions real? A paired test over per-example scores.

    significance main my-branch [--md] [--examples N] [--by FIELD] [--page FILE]

Reads data/predictions.jsonl at both revisions (git commits, branches, tags or `workspace`) through
DVC, pairs the examples by id and, for each ROUGE type, reports the mean difference (B - A), its 95%
paired-bootstrap interval and the p-value of an approximate randomization test (sign flips of the
paired differences): identical predictions give delta 0 and p = 1. With --examples N, the N examples
whose ROUGE-L (or --by another per-example field: novel_2 finds a model that began to copy) rose most and the
N whose fell most, each with its reference and both predictions. With --page FILE, an HTML page of every paired
example (summarization/examples_page.py): its document, reference and both predictions side by side, what each
copied and invented marked, the examples the change moved most first (documents from the workspace's data/raw).
"""

import argparse
import json
import textwrap
from pathlib import Path

import numpy as np

from summarization.abstractiveness import FIELDS
from summarization.cli import run_command
from summarization.config import PREDICTIONS_FILE, RAW_DIR, load_params
from summarization.errors import UserError, first_line, reading
from summarization.markup import markdown_table, markdown_text
from summarization.outputs import write_text
from summarization.rouge import ROUGE_TYPES

RESAMPLES = 10_000
SEED = 0
CHUNK = 500  # resamples drawn at once: bounds memory to CHUNK x examples
MOVED_BY = "rougeL"  # the per-example field that ranks the examples a change moved, unless --by names another
TERMINAL_WIDTH = 100  # characters of a text shown in the terminal view (--md shows them whole)


def read_predictions(rev: str, path: Path = PREDICTIONS_FILE) -> dict[str, dict]:
    """Per-example scores of one revision (data/predictions.jsonl, or data/lead1.jsonl), keyed by id, in the
    file's order."""
    import dvc.api  # slow to import; only this command needs it

    try:
        text = path.read_text() if rev == "workspace" else dvc.api.read(str(path), rev=rev)
    except FileNotFoundError:
        raise UserError(f"{path} is missing in the workspace: run dvc repro") from None
    except Exception as error:  # dvc reports unknown revisions and missing cache with many types
        raise UserError(
            f"cannot read {path} at {rev} ({type(error).__name__}: "
            f"{first_line(error)}); is it committed and "
            "in the DVC cache or remote (dvc pull)?"
        ) from None
    with reading(path if rev == "workspace" else f"{path} at {rev}"):
        # JSON Lines end lines at \n alone: splitlines() would also split a text at the U+2028, \x1c or \x85 in it
        return {row["id"]: row for row in map(parse_line, enumerate(text.split("\n"), start=1)) if row}


def parse_line(numbered: tuple[int, str]) -> dict | None:
    """A line of predictions as a row with every field compared; a blank line, such as an editor adds at the
    end, as None."""
    number, line = numbered
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"line {number}: {error.msg}") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {number}: not a JSON object")
    if missing := [key for key in ("id", "reference", *ROUGE_TYPES) if key not in row]:
        raise ValueError(f"line {number}: no {missing[0]!r}")
    return row


def paired_differences(a: dict[str, dict], b: dict[str, dict]) -> np.ndarray:
    """(examples, ROUGE types) matrix of B - A over the ids both revisions scored."""
    ids = sorted(a.keys() & b.keys())
    if not ids:
        raise UserError("the two revisions share no example ids: were they evaluated on the same split?")
    if changed := next((i for i in ids if a[i]["reference"] != b[i]["reference"]), None):  # ids of other data
        raise UserError(
            f"the two revisions hold other reference summaries for id {changed!r}: their data differ "
            "(fetch params), so their examples do not pair"
        )
    return np.array([[b[i][kind] - a[i][kind] for kind in ROUGE_TYPES] for i in ids])


def paired_test(differences: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, dict]:
    """Delta, 95% bootstrap interval and randomization p-value for each ROUGE type."""
    rng = np.random.default_rng(seed)
    n = len(differences)
    observed = differences.mean(axis=0)
    boot_means, extreme = [], np.zeros(len(ROUGE_TYPES))
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        boot_means.append(differences[rng.integers(0, n, (size, n))].mean(axis=1))
        signs = rng.choice([-1.0, 1.0], (size, n))
        flipped = np.abs(signs @ differences / n)
        extreme += (flipped >= np.abs(observed) - 1e-12).sum(axis=0)
    low, high = np.percentile(np.concatenate(boot_means), [2.5, 97.5], axis=0)
    p_values = (extreme + 1) / (resamples + 1)
    return {
        kind: {
            "delta": round(float(observed[k]), 4),
            "low": round(float(low[k]), 4),
            "high": round(float(high[k]), 4),
            "p": round(float(p_values[k]), 4),
        }
        for k, kind in enumerate(ROUGE_TYPES)
    }


def moved_examples(
    a: dict[str, dict], b: dict[str, dict], count: int, by: str = MOVED_BY
) -> tuple[list[dict], list[dict]]:
    """The `count` paired examples whose field `by` rose most from A to B, and the `count` whose fell most,
    each as its id, the change, the reference and both predictions."""
    changes = sorted((b[i][by] - a[i][by], i) for i in a.keys() & b.keys())

    def example(change: float, i: str) -> dict:
        return {
            "id": i,
            "change": change,
            "reference": a[i]["reference"],
            "a": a[i]["prediction"],
            "b": b[i]["prediction"],
        }

    return (
        [example(change, i) for change, i in reversed(changes[-count:]) if change > 0],
        [example(change, i) for change, i in changes[:count] if change < 0],
    )


def format_examples(rose: list[dict], fell: list[dict], markdown: bool, by: str = MOVED_BY) -> str:
    """Both lists, each text shortened to a line in the terminal and whole in Markdown; ROUGE's changes to 2
    decimals (it is x 100), the abstractiveness shares' to 3."""
    sections, digits = [], 2 if by in ROUGE_TYPES else 3
    for title, examples in ((f"Rose most ({by}, B - A)", rose), (f"Fell most ({by}, B - A)", fell)):
        if markdown:
            rows = [
                [
                    markdown_text(e["id"]),
                    f"{e['change']:+.{digits}f}",
                    *(markdown_text(e[key]) for key in ("reference", "a", "b")),
                ]
                for e in examples
            ]
            body = markdown_table(["id", "change", "reference", "A", "B"], rows) if rows else "none"
            sections.append(f"**{title}**\n\n{body}")
            continue
        lines = [title] + [
            line
            for e in examples
            for line in (
                f"{e['change']:+.{digits}f}  {e['id']}",
                *(
                    f"  {name:<9}  {textwrap.shorten(e[key], TERMINAL_WIDTH, placeholder=' …')}"
                    for name, key in (("reference", "reference"), ("A", "a"), ("B", "b"))
                ),
            )
        ]
        sections.append("\n".join(lines if examples else [title, "  none"]))
    return "\n\n".join(sections)


def format_table(result: dict, rev_a: str, rev_b: str, n: int, markdown: bool) -> str:
    header = ["ROUGE", "delta (B - A)", "95% interval", "p-value", "significant"]
    rows = [
        [
            kind,
            f"{r['delta']:+.2f}",
            f"[{r['low']:+.2f}, {r['high']:+.2f}]",
            f"{r['p']:.4f}",
            "yes" if r["p"] < 0.05 else "no",
        ]
        for kind, r in result.items()
    ]
    a, b = (markdown_text(rev_a), markdown_text(rev_b)) if markdown else (rev_a, rev_b)
    title = f"A = {a}, B = {b}, {n} paired examples, {RESAMPLES} resamples"
    if markdown:
        return f"**{title}**\n\n{markdown_table(header, rows)}"
    widths = [max(len(str(line[col])) for line in [header, *rows]) for col in range(len(header))]
    return "\n".join(
        [title]
        + ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *rows]]
    )


def compare() -> None:
    parser = argparse.ArgumentParser(prog="significance", description=__doc__.splitlines()[0])
    parser.add_argument("rev_a", help="baseline revision (git commit, branch, tag, or workspace)")
    parser.add_argument("rev_b", help="revision compared with it")
    parser.add_argument("--md", action="store_true", help="print a Markdown table, e.g. for a pull request")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--examples",
        type=int,
        default=0,
        metavar="N",
        help=f"also show the N examples whose {MOVED_BY} (or --by) rose most and the N whose fell most, "
        "with the reference and both predictions (shortened; whole with --md)",
    )
    parser.add_argument(
        "--by",
        choices=[*ROUGE_TYPES, *FIELDS],
        default=MOVED_BY,
        help=f"the per-example field --examples and --page rank by (default {MOVED_BY}); novel_2, the share of "
        "the prediction's bigrams absent from its document, falls where a model copies more",
    )
    parser.add_argument(
        "--page",
        metavar="FILE",
        help="also write an HTML page of the paired examples, each document, reference and both predictions side by "
        "side with what they copied and invented marked, those the change moved most first (open it in a browser)",
    )
    args = parser.parse_args()
    if args.examples < 0:
        parser.error("--examples takes a number of examples, 0 or more")
    if args.examples and args.json:
        parser.error("--examples shows texts, in the table or --md view; not with --json")
    a, b = read_predictions(args.rev_a), read_predictions(args.rev_b)
    for rev, rows in ((args.rev_a, a), (args.rev_b, b)):
        if (args.examples or args.page) and any(args.by not in row for row in rows.values()):
            raise UserError(
                f"{PREDICTIONS_FILE} at {rev} has no {args.by!r} per example: it was evaluated before the field "
                "existed; rerun the evaluate stage there (dvc repro)"
            )
    differences = paired_differences(a, b)
    result = paired_test(differences)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(format_table(result, args.rev_a, args.rev_b, len(differences), args.md))
    if args.examples:
        print("\n" + format_examples(*moved_examples(a, b, args.examples, args.by), args.md, args.by))
    if args.page:
        write_page(Path(args.page), a, b, args.rev_a, args.rev_b, args.by)


def write_page(path: Path, a: dict[str, dict], b: dict[str, dict], rev_a: str, rev_b: str, by: str) -> None:
    """The examples page of two revisions (--page), the paired examples their change moved most first."""
    from summarization import examples_page  # only --page needs it
    from summarization.data import documents_of

    ids = sorted(a.keys() & b.keys(), key=lambda i: -abs(b[i][by] - a[i][by]))
    shown = ids[: examples_page.MAX_EXAMPLES]  # a larger split: the examples moved most
    documents = documents_of(RAW_DIR, load_params().evaluate.split, shown, f"{PREDICTIONS_FILE}'s")
    note = f"A = {rev_a}, B = {rev_b}: " + (
        f"all {len(ids):,} paired examples"
        if len(shown) == len(ids)
        else f"the {len(shown):,} of {len(ids):,} paired examples that {by} moved most"
    )
    page = examples_page.comparison_page("Examples compared", note, [(a[i], b[i]) for i in shown], documents, by)
    write_text(path, page)
    print(f"\nwrote {path} (open it in a browser)")


def main() -> None:
    """The `significance` console script."""
    run_command(compare)


if __name__ == "__main__":
    main()
