"""report.md: the document model as Markdown, for the terminal (``nianbao show``) and plain-text diffs.

Markdown has no merged cells: a table is written as its full grid, a merged label shown once
at its top-left position and the positions it covers left empty. Every string is escaped.
"""

from __future__ import annotations

import re

from transforms.document import Document, Heading, Paragraph, Table

# Backslash-escaped wherever they stand: each can open markup (emphasis, code, a link, a table
# cell, a heading's closing #, strikethrough). "<", ">" and "&" become entities instead, so raw
# HTML and entity references are shown as typed, not interpreted, by every Markdown renderer.
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#~"})
_HTML_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_BULLET = re.compile(r"^(\s*)([-+])")
_NUMBERED = re.compile(r"^(\s*)(\d+)([.)])")


def escape_markdown(text: str) -> str:
    r"""Text (a registry name, a cell, a rule's values) shown as typed inside Markdown.

    >>> escape_markdown("<b>a|b</b> [x](y)")
    '&lt;b&gt;a\\|b&lt;/b&gt; \\[x\\](y)'
    """
    # A line break would end the heading or table row the text sits in.
    flat = " ".join(text.splitlines())
    return flat.translate(_HTML_SPECIAL).translate(_MARKDOWN_SPECIAL)


def _paragraph(text: str) -> str:
    # "- x", "+ x", "1. x" at the start of a narrative paragraph: shown as typed, not as a list.
    escaped = _BULLET.sub(r"\1\\\2", escape_markdown(text))
    return _NUMBERED.sub(r"\1\2\\\3", escaped)


def table_grid(table: Table) -> list[list[str]]:
    """The table as ``n_rows`` × ``n_cols`` texts: a merged cell's text at its top-left position."""
    grid = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        if 0 <= cell.row < table.n_rows and 0 <= cell.col < table.n_cols:
            grid[cell.row][cell.col] = cell.text
    return grid


def _table(table: Table) -> list[str]:
    grid = table_grid(table)
    numeric = {cell.col for cell in table.cells if cell.key is not None}
    rule = ["---:" if col in numeric else "---" for col in range(table.n_cols)]

    def row(texts: list[str]) -> str:
        return "| " + " | ".join(escape_markdown(t) for t in texts) + " |"

    # Markdown's one header row is the grid's first; the other header rows follow as rows.
    return [row(grid[0]), "|" + "|".join(rule) + "|", *(row(texts) for texts in grid[1:])]


def to_markdown(doc: Document) -> str:
    """The report as Markdown: title, headings, paragraphs (placeholders in bold, marked
    【待填写：…】 by the model), and the tables as grids."""
    lines = [f"# {escape_markdown(line)}" for line in doc.title[:1]]
    lines += [f"**{escape_markdown(line)}**" for line in doc.title[1:]]
    lines.append("")
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * (block.level + 1)} {escape_markdown(block.text)}", ""]
        elif isinstance(block, Paragraph):
            text = _paragraph(block.text)
            lines += [f"**{text}**" if block.placeholder else text, ""]
        else:
            lines += [*_table(block), ""]
    return "\n".join(lines)
