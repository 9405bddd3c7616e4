"""Untrusted text (ids, documents, summaries, params, file names) rendered into Markdown and HTML keeps the
structure around it: one row a table line, a column a cell, code spans closed, no tag of its own. Markdown is read
back with markdown-it-py (CommonMark with GFM tables, raw HTML on, as GitHub and the Hub render it)."""

import json
import subprocess
import sys
from pathlib import Path

from markdown_it import MarkdownIt
from transformers import TrainerState

from conftest import activated_environment
from helpers import PARAMS
from summarization import model_card, training
from summarization.abstractiveness import FIELDS
from summarization.config import SPLITS
from summarization.markup import html_text, markdown_code, markdown_table, markdown_text, script_json
from summarization.rouge import ROUGE_TYPES

HOSTILE = [
    "a|b",
    "two\nlines",
    "back`tick",
    "``run``",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "nul\x00here",
    "x\\|y",
    "*em* _u_ [link](http://x) ![i](y)",
    "&amp; &#60;",
    "line\u2028separator",
]
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")


def shown(text: str) -> str:
    """What a reader sees of `text` in one line: control characters gone, each run of whitespace one space."""
    return " ".join("".join(c for c in text if c in "\t\n" or ord(c) >= 32 and ord(c) != 127).split())


def code_shown(text: str) -> str:
    """What a code span shows of `text`: line ends as spaces, control characters gone."""
    return "".join(c for c in text.replace("\n", " ") if ord(c) >= 32 and ord(c) != 127)


def tables(markdown: str) -> list[list[list]]:
    """Each table's rows, each row's cells as their inline tokens, as a GFM renderer parses them."""
    found, tokens = [], MARKDOWN.parse(markdown)
    for previous, token in zip([None, *tokens], tokens):
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            found[-1].append([])
        elif token.type == "inline" and previous.type in ("th_open", "td_open"):
            found[-1][-1].append(token.children)
    return found


def raw_html(markdown: str) -> list[str]:
    """Every tag the renderer would pass through as HTML: none may come from an untrusted text."""
    tokens = MARKDOWN.parse(markdown)
    inline = [child for token in tokens if token.type == "inline" for child in token.children]
    return [token.content for token in [*tokens, *inline] if token.type in ("html_block", "html_inline")]


def text_of(cell: list) -> str:
    return "".join(token.content if token.type != "softbreak" else " " for token in cell)


def code_spans(markdown: str) -> list[str]:
    return [
        child.content
        for token in MARKDOWN.parse(markdown)
        if token.type == "inline"
        for child in token.children
        if child.type == "code_inline"
    ]


def assert_whole_tables(markdown: str) -> list[list[list]]:
    """Every table of `markdown` with as many cells in each row as in its header, and no raw HTML anywhere."""
    found = tables(markdown)
    assert found and all(len(row) == len(table[0]) for table in found for row in table), markdown
    assert raw_html(markdown) == [], markdown
    return found


def test_a_table_keeps_one_line_a_row_and_its_columns_whatever_the_cells_hold():
    rows = [[markdown_text(text), markdown_code(text)] for text in HOSTILE]
    markdown = markdown_table(["text", "code"], rows)
    assert markdown.count("\n") == 1 + len(HOSTILE)
    (table,) = assert_whole_tables(markdown)
    for text, (plain, code) in zip(HOSTILE, table[1:], strict=True):
        assert [token.type for token in plain] == ["text"] and text_of(plain) == shown(text)
        assert [(token.type, token.content) for token in code] == [("code_inline", code_shown(text))]


def test_a_pipe_is_escaped_once():
    assert markdown_table(["id"], [[markdown_text("a|b")]]).splitlines()[-1] == "| a\\|b |"


def test_a_code_span_is_closed_and_shows_the_text_whatever_backticks_or_spaces_it_holds():
    for text in HOSTILE + ["`", "summarize: ", " both ", " ", "a`", "`a"]:
        span = markdown_code(text)
        assert code_spans(span) == [code_shown(text)] and raw_html(span) == [], (text, span)


def test_html_and_script_json_leave_no_tag():
    assert "<" not in html_text("</script><script>x</script>") and "&lt;/script&gt;" in html_text("</script>")
    data = {"document": "</script><script>alert(1)</script> <!-- &amp;"}
    encoded = script_json(data)
    assert "<" not in encoded and "&" not in encoded and json.loads(encoded) == data


def records() -> dict[str, dict]:
    """What the export stage reads for the card, with the environment's values untrusted too."""
    scores = dict.fromkeys(ROUGE_TYPES, 40.0)
    measures = dict.fromkeys(FIELDS, 0.5)
    split = {"rows": 2, "source_truncated": 0, "target_truncated": 0, "novel_2": 0.5, "density": 1.0}
    return {
        "data": dict.fromkeys(SPLITS, split),
        "lengths": dict.fromkeys(SPLITS, {"source_tokens": {"mean": 9}, "target_tokens": {"mean": 3}}),
        "train": {"steps": 10, "train_loss": 1.5, "parameters": 1000},
        "rouge": scores | {"n": 2, "gen_len": 3.0, "bootstrap": dict.fromkeys(ROUGE_TYPES, {"low": 1, "high": 2})},
        "lead1": scores,
        "abstractiveness": {"predictions": measures},
        "baseline_abstractiveness": {"references": measures, "lead1": measures},
        "environment": {"git_revision": HOSTILE[5]} | {f"record {i}": text for i, text in enumerate(HOSTILE)},
    }


def test_the_model_card_keeps_its_structure_whatever_the_params_and_records_hold():
    """preprocess.prefix, the names of fetch.files, every params value and environment value, each hostile."""
    for hostile in HOSTILE:
        params = PARAMS.model_copy(
            update={
                "preprocess": PARAMS.preprocess.model_copy(update={"prefix": hostile}),
                "fetch": PARAMS.fetch.model_copy(
                    update={
                        "source": "files",
                        "files": PARAMS.fetch.files.model_copy(update=dict.fromkeys(SPLITS, f"data/{hostile}.jsonl")),
                    }
                ),
            }
        )
        card = model_card.render("summarizer", params, "t5", records())
        body = card.split("\n---\n", 1)[1]  # after the YAML front matter
        assert_whole_tables(body)
        spans = code_spans(body)
        assert code_shown(repr(hostile)) in spans and code_shown(Path(f"{hostile}.jsonl").name) in spans, body
        assert all(code_shown(text) in spans for text in HOSTILE), body  # the environment's values


def test_the_evaluation_table_keeps_its_structure_whatever_the_metric_names():
    state = TrainerState(best_global_step=None)
    state.log_history = [
        {"loss": 1.25, "grad_norm": 1.0, "learning_rate": 0.1, "epoch": 1.0, "step": 10},
        {"eval_loss": 0.123456, "eval_rougeL": 50.0}
        | {f"eval_{text}": 1.0 for text in HOSTILE}
        | {"epoch": 1.0, "step": 10},
        {"train_runtime": 1.0, "train_loss": 1.25, "epoch": 1.0, "step": 10},
    ]
    (table,) = assert_whole_tables(training.evaluation_table(state, "rougeL"))
    assert [text_of(cell) for cell in table[1]][:4] == ["1.25", "1.0", "10", "0.1235"]


def test_significance_md_keeps_its_structure_whatever_the_ids_and_texts_hold(tmp_path):
    """The real command, comparing a committed revision with the workspace, ids and texts hostile."""

    def predictions(rouge: float) -> str:
        rows = [
            {"id": text, "reference": text, "prediction": f"{rouge} {text}"} | dict.fromkeys(ROUGE_TYPES, rouge + i)
            for i, text in enumerate(HOSTILE)
        ]
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    env = activated_environment()
    (tmp_path / "data").mkdir()
    (tmp_path / "data/predictions.jsonl").write_text(predictions(10.0))
    subprocess.run(
        "git init -q && dvc init -q && git add -A && git commit -qm a", shell=True, cwd=tmp_path, env=env, check=True
    )
    (tmp_path / "data/predictions.jsonl").write_text(predictions(20.0))
    result = subprocess.run(
        [sys.executable, "-m", "summarization.significance", "HEAD", "workspace", "--md", "--examples", "50"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    found = assert_whole_tables(result.stdout)
    assert len(found) == 2 and len(found[1]) == 1 + len(HOSTILE)  # the ROUGE table, and every example rose
    assert sorted(text_of(row[0]) for row in found[1][1:]) == sorted(shown(text) for text in HOSTILE)
