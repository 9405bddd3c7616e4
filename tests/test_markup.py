"""Untrusted text (ids, documents, summaries, params, file names) rendered into Markdown and HTML keeps the
structure around it: one row a table line, a column a cell, code spans closed, no tag of its own."""

import json
import re

from summarization.markup import html_text, markdown_code, markdown_table, markdown_text, script_json

HOSTILE = ["a|b", "two\nlines", "back`tick", "``run``", "<script>alert(1)</script>", "nul\x00here", "x\\|y", "*em* _u_"]


def cells(row: str) -> list[str]:
    """A GFM table row split as GFM splits it: at each | not escaped by a backslash."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_a_table_keeps_one_line_a_row_and_its_columns_whatever_the_cells_hold():
    rows = [[markdown_text(text), markdown_code(text)] for text in HOSTILE]
    lines = markdown_table(["text", "code"], rows).splitlines()
    assert len(lines) == 2 + len(HOSTILE)
    assert all(len(cells(line)) == 2 for line in lines)
    assert not any("\x00" in line for line in lines)
    assert not any("<script>" in cells(line)[0] for line in lines)  # in a code span it is text


def test_a_pipe_is_escaped_once():
    assert markdown_table(["id"], [[markdown_text("a|b")]]).splitlines()[-1] == "| a\\|b |"


def test_a_code_span_is_closed_whatever_backticks_the_text_holds():
    for text in HOSTILE + ["`", "summarize: ", " both "]:
        span = markdown_code(text)
        fence = re.match(r"`+", span).group()
        inner = span[len(fence) : -len(fence)]
        assert span.endswith(fence) and fence not in inner.replace(fence + "`", "")
        shown = inner[1:-1] if inner.startswith(" ") and inner.endswith(" ") and inner.strip() else inner
        assert shown == text.replace("\n", " ").replace("\x00", "")


def test_html_and_script_json_leave_no_tag():
    assert "<" not in html_text("</script><script>x</script>") and "&lt;/script&gt;" in html_text("</script>")
    data = {"document": "</script><script>alert(1)</script> <!-- &amp;"}
    encoded = script_json(data)
    assert "<" not in encoded and "&" not in encoded and json.loads(encoded) == data
