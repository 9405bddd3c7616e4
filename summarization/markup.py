"""Text rendered into Markdown or HTML, escaped in one place, once: ids, documents, summaries, params and file
names are untrusted input (a colleague's data, a branch's params), and a | or a newline in a table cell, a backtick in
a code span or a tag in a page would change what the reader sees. One helper per context a text lands in."""

import html
import json
import re

# C0 controls and DEL (NUL among them): no renderer shows them, and some truncate or reject a document at one
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# What CommonMark's inline parser acts on (emphasis, code, links, raw HTML, entities, line-end backslash) and
# GitHub's $ math; a backslash before any ASCII punctuation makes it literal (CommonMark 0.31, section 2.4). A | is
# markdown_table's to escape: GFM reads it at the table's level, before the cell's inline content
MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>&~$])")
BACKTICKS = re.compile(r"`+")


def one_line(text: str) -> str:
    """Whitespace runs, newlines among them, as one space, and no control characters."""
    return CONTROL.sub("", " ".join(str(text).split()))


def markdown_text(text: object) -> str:
    """`text` as literal Markdown inline text on one line: no emphasis, link, code span or HTML tag it could open."""
    return MARKDOWN_INLINE.sub(r"\\\1", one_line(str(text)))


def markdown_code(text: object) -> str:
    """`text` as one Markdown code span, shown exactly (bar newlines, shown as spaces, as a span shows them): fenced
    by one backtick more than its longest run of them, padded where it starts or ends with one."""
    text = CONTROL.sub("", str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    fence = "`" * (1 + max((len(run) for run in BACKTICKS.findall(text)), default=0))
    # a span strips one space from each end when both have one and it holds more than spaces: padding both ends
    # keeps any such text as it is (and a span cannot be empty)
    padded = f" {text} " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else text or " "
    return f"{fence}{padded}{fence}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured Markdown table. Cells are Markdown already (numbers, markdown_text, markdown_code): each
    is kept on one line and its | escaped, the table-level escape GFM applies before a cell's inline content, code
    spans included."""
    lines = [header, ["---"] * len(header), *rows]

    def cell(value: object) -> str:
        return CONTROL.sub("", str(value).replace("\r", " ").replace("\n", " ")).replace("|", "\\|")

    return "\n".join("| " + " | ".join(cell(value) for value in line) + " |" for line in lines)


def html_text(text: object) -> str:
    """`text` as HTML character data or an attribute value: &, <, >, " and ' as entities, control characters gone."""
    return html.escape(CONTROL.sub("", str(text).replace("\r\n", "\n")), quote=True)


def script_json(data: object) -> str:
    """`data` as JSON to put inside an HTML <script> element: no </script>, <!-- or & can end or change it there
    (each written as a \\u escape, which JSON reads back as the same character)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for character in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(character, f"\\u{ord(character):04x}")
    return text
