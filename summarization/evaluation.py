"""How summaries are scored against their references: the protocol the evaluate stage reports, the one the train
stage applies to the validation split to compare its evaluations, and the one the baseline stage scores lead-1 by.
Each example is measured by one function of its texts, in processes across the cores."""

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from summarization import rouge

BOOTSTRAP_SEED = 0  # fixed, so the same predictions always give the same interval
# Fewer rows than this a process are scored in fewer processes: a process started by spawn (macOS) imports this
# module and rouge_score first (~0.4 CPU seconds), about as long as scoring 2,000 rows takes (bench.scoring).
ROWS_PER_PROCESS = 2000
R = TypeVar("R")


def measured(prediction: str, reference: str) -> dict[str, float]:
    """What is measured of one summary against its reference: its ROUGE. A measure of another text of the
    example (its document, say) takes it as one more argument, and the callers pass its column."""
    return rouge.pair_scores(prediction, reference)


def lead_measured(document: str, reference: str) -> dict:
    """The lead-1 baseline of one example: its document's first sentence (`lead`) and what `measured` gives it."""
    lead = rouge.lead_sentence(document)
    return {"lead": lead} | measured(lead, reference)


def in_processes(function: Callable[..., R], columns: Sequence[Sequence], processes: int) -> list[R]:
    """`function` of each row of `columns` (its arguments, a column each), in row order, the rows dealt out in
    contiguous chunks to up to `processes` processes; with one, in this process, starting none."""
    rows = len(columns[0])
    processes = max(1, min(processes, rows // ROWS_PER_PROCESS))
    if processes == 1:
        return list(map(function, *columns))
    with ProcessPoolExecutor(processes) as pool:  # a few chunks a process, so that one slow chunk waits on none
        return list(pool.map(function, *columns, chunksize=math.ceil(rows / (4 * processes))))


def score_summaries(
    predictions: list[str], lengths: list[int], references: list[str], bootstrap_samples: int, processes: int
) -> tuple[list[dict[str, float]], dict]:
    """Per-example measures, and the scores over all examples: ROUGE (the bootstrap's middle estimate, its 95%
    interval under `bootstrap`), gen_len (mean generated tokens, the recipe's) and n."""
    per_example = in_processes(measured, [predictions, references], processes)
    scores = rouge.aggregate(per_example, bootstrap_samples, BOOTSTRAP_SEED)
    scores |= {"gen_len": round(sum(lengths) / len(lengths), 4), "n": len(predictions)}
    return per_example, scores
