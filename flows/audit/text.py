"""Published reports without table grids — plain text copied from a page, and PDF — as text rows.

A row is what the text shows as one table row: a line of a tab- or ``|``-separated text, the
tab-indented lines of one row in text copied one cell per line (a line without the tab
continues the cell above it: a label broken over lines), or a printed line of a PDF. A
paragraph is a row of one cell. ``transforms/published.py`` finds the statutory rows in them.
"""

from __future__ import annotations

import html
import io
import re

_PIPE_SEPARATOR = re.compile(r"^\s*:?-{2,}:?\s*$")
_HEADING = re.compile(r"^\s*(?:[一二三四五六七八九十]+[、．.]|[（(][一二三四五六七八九十]+[)）])")
# Page numbers and running footers a PDF prints between a table's rows: "— 2 —", "- 2 -",
# "第 2 页", "2/4", "第2页 共4页".
_PAGE_FOOTER = re.compile(
    r"^\s*(?:[—\-–]\s*\d+\s*[—\-–]|第\s*\d+\s*页(?:\s*[,，]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)\s*$"
)
# A line continuing a table cell is a label's rest ("企业" after "商业"); a longer line, or a
# heading, after a table is the text that follows it.
_MAX_CONTINUATION = 40
# A PDF of more pages than this is no annual report (they run to 5–20 pages).
MAX_PDF_PAGES = 200


def text_rows(text: str, markdown: bool = False) -> tuple[list[tuple[str, ...]], list[str]]:
    """A text's rows (see the module docstring) and its paragraphs (its lines outside tables);
    ``markdown``: undo Markdown's escapes and emphasis first (nianbao's report.md).

    >>> text_rows("规章\\t0\\t0\\t0\\n\\t行政许可\\n\\t12\\n")[0]
    [('规章', '0', '0', '0'), ('行政许可', '12')]
    """
    rows: list[tuple[str, ...]] = []
    paragraphs: list[str] = []
    cells: list[str] = []  # the tab-indented lines of the row being read
    for raw in text.removeprefix("\ufeff").splitlines():
        line = _plain_markdown(raw) if markdown else raw
        stripped = line.strip()
        one_cell = line.startswith("\t") and "\t" not in line[1:]
        if one_cell:
            cells.append(line[1:].strip())
            continue
        if (
            cells
            and stripped
            and "\t" not in line
            and "|" not in line
            and len(stripped) <= _MAX_CONTINUATION
            and not _HEADING.match(stripped)
        ):
            # A label broken over lines: the line goes on with the cell above it.
            cells[-1] += stripped
            continue
        if cells:
            rows.append(tuple(cells))
            cells = []
        if "\t" in line:  # a row of cells, perhaps all empty (a row of zeros printed blank)
            rows.append(tuple(cell.strip() for cell in line.split("\t")))
        elif not stripped:
            continue
        elif stripped.startswith("#"):  # a Markdown heading: its text
            rows.append((stripped.lstrip("#").strip(),))
            paragraphs.append(rows[-1][0])
        elif stripped.count("|") >= 2:
            parts = stripped.strip("|").split("|")
            if all(_PIPE_SEPARATOR.match(part) for part in parts):
                continue  # a Markdown table's rule under its header
            rows.append(tuple(part.strip() for part in parts))
        else:
            rows.append((stripped,))
            paragraphs.append(stripped)
    if cells:
        rows.append(tuple(cells))
    return rows, paragraphs


_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_\[\]#~.+\-])")
_EMPHASIS = re.compile(r"^\*\*(.*)\*\*$")


def _plain_markdown(line: str) -> str:
    """A Markdown line as its text: ``**…**`` emphasis of a whole line dropped, ``\\[``-style
    escapes and entities undone; an escaped ``\\|`` stays inside its cell."""
    line = _EMPHASIS.sub(r"\1", line.strip())
    cells = re.split(r"(?<!\\)\|", line)  # split at unescaped bars only, then unescape
    texts = [
        html.unescape(_MARKDOWN_ESCAPE.sub(r"\1", cell.replace("\\|", "｜"))) for cell in cells
    ]
    return "|".join(texts)


def pdf_rows(data: bytes) -> tuple[list[tuple[str, ...]], list[str]]:
    """A PDF's text layer as rows (each printed line, split at blanks) and paragraphs (lines
    joined up to a sentence's end or a heading). Raises ValueError for a PDF without text."""
    import pdfplumber  # only PDFs need it; it imports pdfminer (~0.2 s)

    lines: list[str] = []
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        if len(pdf.pages) > MAX_PDF_PAGES:
            raise ValueError(f"{len(pdf.pages)}页，超过{MAX_PDF_PAGES}页，不是年度报告")
        for page in pdf.pages:
            text = page.extract_text() or ""
            lines += [line for line in text.splitlines() if not _PAGE_FOOTER.match(line)]
    if not any(line.strip() for line in lines):
        raise ValueError("PDF没有文字层（扫描件？）（no text layer: a scan?）")
    rows = [tuple(line.split()) for line in lines if line.strip()]
    return rows, _paragraphs(lines)


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if current and _HEADING.match(text):
            paragraphs.append(current)
            current = ""
        # Chinese wraps without blanks: the printed line break is no space.
        current += text
        if text.endswith(("。", "】", "：", ":")) or (_HEADING.match(text) and len(text) < 40):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs
