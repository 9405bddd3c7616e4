"""The examples page at XSum's validation size: how long the examples stage takes to build it from 11,332
XSum-like examples (bench/scoring.py's texts: documents ~400 words), how large it is, and how long headless
Chromium takes to open it and show its first examples, then to sort all of them by another measure.

    python -m bench.examples_page               # 11,332 rows
    python -m bench.examples_page --rows 500    # a quick look
"""

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import XSUM_ROWS, save
from bench.scoring import xsum_like
from summarization import examples_page, measures
from summarization.data import in_processes, usable_cores


def chromium_seconds(url: str, profile: Path) -> dict[str, float]:
    """Wall seconds of headless Chromium opening `url` and printing its document once its scripts ran, and the CPU
    seconds of its processes (on a loaded machine, the work)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    start, cpu = time.perf_counter(), children_cpu_seconds()
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--dump-dom", url],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    seconds = time.perf_counter() - start
    assert 'data-shown="20"' in dom, "the page showed no examples"
    return {"seconds": round(seconds, 2), "cpu_seconds": round(children_cpu_seconds() - cpu, 2)}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(rows: int) -> dict:
    texts = xsum_like(rows)
    predictions = [
        {"id": str(row), "reference": reference, "prediction": prediction} | scores
        for row, (prediction, reference, scores) in enumerate(
            zip(
                texts["prediction"],
                texts["reference"],
                in_processes(
                    measures.of_prediction,
                    [texts["prediction"], texts["reference"], texts["document"]],
                    usable_cores(),
                ),
            )
        )
    ]
    references = [scores for [scores] in map(lambda r, d: [measures.of_lead(r, d)["reference_measures"]],
                                             texts["reference"], texts["document"])]  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    page = examples_page.evaluation_page("Examples", "bench", predictions, references, texts["document"])
    build = {"seconds": round(time.perf_counter() - start, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "examples.html"
        path.write_text(page)
        opened = chromium_seconds(path.as_uri(), Path(scratch) / "profile")
        sorted_ = chromium_seconds(f"{path.as_uri()}#sort=novel_names&descending=1", Path(scratch) / "profile")
    return {
        "rows": rows,
        "build": build,
        "page_mb": round(len(page.encode()) / 1e6, 1),
        "chromium_open": opened,
        "chromium_open_sorted": sorted_,
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--rows", type=int, default=XSUM_ROWS["validation"])
    options.add_argument("--output", type=Path, default=Path("bench/results/examples-page.json"))
    args = options.parse_args()
    report = measure(args.rows)
    save(report, args.output)
    print(report)


if __name__ == "__main__":
    main()
