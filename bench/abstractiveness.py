"""The cost of the abstractiveness measures: ms a pair beside ROUGE's, on XSum's rows, and the time they add to
preprocess (every split's references, in usable_cores() processes against one) and to evaluate (predictions,
lead-1 and references of a split) at XSum's sizes.

    python -m bench.abstractiveness [--scale 1.0] [--repeats 100]

The documents are the XSum rows of the tests' fixtures, each followed by the next (~490 words; XSum's average
~430), repeated to each size; timings are wall-clock, so say what else ran on the machine."""

import argparse
import json
import time
from pathlib import Path

from bench.common import XSUM_ROWS
from summarization import abstractiveness, rouge
from summarization.data import in_processes, usable_cores

SAMPLE = Path("../shared/fixtures/xsum-sample.jsonl")


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--scale", type=float, default=1.0, help="a fraction of XSum's sizes (default: %(default)s)")
    options.add_argument("--repeats", type=int, default=100, help="times each pair is timed (default: %(default)s)")
    args = options.parse_args()
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    documents = [row["document"] + "\n" + rows[(i + 1) % len(rows)]["document"] for i, row in enumerate(rows)]
    references, leads = [row["summary"] for row in rows], [rouge.lead_sentence(d) for d in documents]
    repeats = args.repeats
    pairs = len(rows) * repeats
    pair = timed(lambda: [abstractiveness.measures(r, d) for r, d in zip(references * repeats, documents * repeats)])
    scored = timed(lambda: [rouge.pair_scores(p, r) for p, r in zip(leads * repeats, references * repeats)])
    print(f"ms a pair: abstractiveness {pair / pairs * 1e3:.3f}, ROUGE {scored / pairs * 1e3:.3f}")

    def of_size(n: int) -> tuple[list[str], list[str], list[str]]:
        return tuple([texts[i % len(rows)] for i in range(n)] for texts in (references, leads, documents))

    train = round(XSUM_ROWS["train"] * args.scale)
    summaries, _, texts = of_size(train)
    for processes in sorted({1, usable_cores()}):
        seconds = timed(lambda n=processes: in_processes(abstractiveness.measure_against, [texts, summaries], n))
        print(f"preprocess, train's {train:,} references: {seconds:.1f} s in {processes} process(es)")
    validation = round(XSUM_ROWS["validation"] * args.scale)
    summaries, lead_texts, texts = of_size(validation)
    seconds = timed(lambda: list(map(abstractiveness.measure_against, texts, summaries, lead_texts, summaries)))
    print(f"evaluate, validation's {validation:,} rows x 3 summaries: {seconds:.1f} s in 1 process")


if __name__ == "__main__":
    main()
