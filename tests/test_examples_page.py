"""The examples page: its marks worked by hand, its sample, and the page itself in a real browser (headless
Chromium, where installed: `.ci/run` installs Debian's package), with untrusted texts shown as text."""

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from summarization import examples_page, measures
from summarization.examples_page import NOVEL_NAME, NOVEL_WORD, marks

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium (apt-get install chromium; .ci/run installs it)"
)
HOSTILE = '</script><script>document.title = "injected"</script><b id="bold">bold</b> &amp; <!-- a comment'


def chromium(tmp_path: Path, url: str, *arguments: str) -> tuple[str, list[str]]:
    """What headless Chromium prints of `url` (--dump-dom: the document after its scripts ran), and the console
    messages it logged (errors among them)."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # as root in CI's container
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *arguments,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def example_rows() -> tuple[list[dict], list[dict], list[str]]:
    documents = [
        HOSTILE + " Police in Cardiff said 12 people were hurt on Monday. Nobody was held.",
        "The council of Leeds voted to close three schools. Parents protested.",
        "Rain fell across Wales all week.",
    ]
    references = ["Twelve people were hurt in Cardiff, police say.", "Leeds will shut 3 schools.", "It rained."]
    predictions = [
        "Police in Cardiff said 12 people were hurt by Boris in 2019 " + HOSTILE,
        "The council of Leeds voted to close three schools.",
        "Rain fell across Wales all week.",
    ]
    rows = [
        {"id": f"<i>{number}</i>", "reference": reference, "prediction": prediction}
        | measures.of_prediction(prediction, reference, document)
        for number, (prediction, reference, document) in enumerate(zip(predictions, references, documents))
    ]
    reference_measures = [
        measures.of_lead(reference, document)["reference_measures"]
        for reference, document in zip(references, documents)
    ]
    return rows, reference_measures, documents


def test_marks_are_the_fragments_the_novel_words_and_the_novel_names():
    summary, document = "The mayor of Leeds met Boris in 2019, the mayor said.", "Leeds: the mayor of Leeds said"
    in_summary, in_document = marks(summary, document)
    spans = [(summary[start:end], kind) for start, end, kind in in_summary]
    # "the mayor of Leeds" is copied whole (fragment 0), as are "the mayor" (1) and "said" (2); "met" is a novel
    # word, "Boris" and "2019" names and numbers the document lacks
    assert spans == [
        ("The mayor of Leeds", 0),
        ("met", NOVEL_WORD),
        ("Boris", NOVEL_NAME),
        ("in", NOVEL_WORD),
        ("2019", NOVEL_NAME),
        ("the mayor", 1),
        ("said", 2),
    ]
    # where each fragment was copied from: the first of its longest matches
    assert [(document[start:end], kind) for start, end, kind in in_document] == [
        ("the mayor of Leeds", 0),
        ("the mayor", 1),
        ("said", 2),
    ]


def test_a_large_split_is_sampled_evenly_and_the_page_says_so():
    assert examples_page.sampled(5, limit=10) == [0, 1, 2, 3, 4]
    assert examples_page.sampled(100, limit=4) == [0, 25, 50, 75]
    assert examples_page.sample_note(11_332, 11_332) == "all 11,332 examples"
    assert examples_page.sample_note(12_000, 204_045).startswith("12,000 of 204,045 examples, evenly spaced")


def test_untrusted_texts_stay_inside_the_pages_data():
    rows, reference_measures, documents = example_rows()
    page = examples_page.evaluation_page(HOSTILE, "{{examples}} <b>note</b>", rows, reference_measures, documents)
    # the texts' own </script> and <b> never reach the HTML parser; the title and note are entities
    assert page.count("</script>") == 4 and not re.search(r"<b[\s>]", page)  # the template's own four scripts
    assert f"<title>{html.escape(HOSTILE)}</title>" in page and "{{examples}} &lt;b&gt;note" in page


@needs_chromium
def test_the_page_renders_in_chromium_with_texts_as_text_and_no_console_message(tmp_path):
    rows, reference_measures, documents = example_rows()
    path = tmp_path / "examples.html"
    path.write_text(examples_page.evaluation_page("Examples", "test split", rows, reference_measures, documents))
    dom, console = chromium(tmp_path, path.as_uri(), "--dump-dom")
    assert console == [] and not re.search(r"<html[^>]* data-error=", dom)
    assert 'data-shown="3"' in dom and "<title>Examples</title>" in dom  # no script of the texts ran
    assert '<b id="bold">' not in dom and "&lt;/script&gt;&lt;script&gt;document.title" in dom  # shown, as text
    assert "&lt;i&gt;0&lt;/i&gt;" in dom  # ids too
    assert '<span class="name" title="a name or number the document lacks">Boris</span>' in dom
    assert re.search(r'<span class="f0" title="copied fragment 1">Police in Cardiff said 12 people were hurt', dom)
    # worst ROUGE-L first: the first example, whose prediction copied a sentence the reference does not say
    ids = re.findall(r"<article><h2><b>(.*?)</b>", dom)
    assert ids[0] == "&lt;i&gt;0&lt;/i&gt;" and len(ids) == 3


@needs_chromium
def test_the_page_sorts_and_filters_by_any_measure_from_its_address(tmp_path):
    rows, reference_measures, documents = example_rows()
    path = tmp_path / "examples.html"
    path.write_text(examples_page.evaluation_page("Examples", "test split", rows, reference_measures, documents))
    longest_first = f"{path.as_uri()}#sort=words&descending=1&filter=coverage&low=0.99&high=1"
    dom, console = chromium(tmp_path, longest_first, "--dump-dom")
    assert console == []
    # copied whole (coverage 1): the second and third, the longer first
    assert re.findall(r"<article><h2><b>(.*?)</b>", dom) == ["&lt;i&gt;1&lt;/i&gt;", "&lt;i&gt;2&lt;/i&gt;"]
    assert "2 of 3 examples" in dom


@needs_chromium
def test_two_revisions_side_by_side_the_most_moved_first(tmp_path):
    rows, _, documents = example_rows()
    changed = [
        row | {"prediction": "Nothing.", "rougeL": 0.0} if number == 2 else row for number, row in enumerate(rows)
    ]
    path = tmp_path / "compared.html"
    page = examples_page.comparison_page("Compared", "A = main, B = lr", list(zip(rows, changed)), documents, "rougeL")
    path.write_text(page)
    dom, console = chromium(tmp_path, path.as_uri(), "--dump-dom")
    assert console == [] and 'data-shown="3"' in dom
    articles = dom.split("<article>")[1:]
    assert articles[0].startswith("<h2><b>&lt;i&gt;2&lt;/i&gt;</b>")  # the one the change moved
    assert ">reference</button>" in articles[0] and ">A</button>" in articles[0] and ">B</button>" in articles[0]
    assert '<span class="novel">Nothing</span>.' in articles[0] and "Rain fell across Wales all week." in articles[0]


@pytest.mark.slow
@needs_chromium
def test_make_repro_writes_a_page_that_renders_with_marks(pipeline, tmp_path):
    page = pipeline / "reports/examples.html"
    dom, console = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert console == [] and not re.search(r"<html[^>]* data-error=", dom) and 'data-shown="20"' in dom
    assert "24 of 24 examples" in dom and ">reference</button>" in dom and ">prediction</button>" in dom
    assert re.search(r'<span class="f\d" title="copied fragment', dom) and '<span class="novel">' in dom
    screenshot = tmp_path / "examples.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={screenshot}")  # the default window size
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 10_000
