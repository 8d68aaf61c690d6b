"""Published reports without table grids — plain text copied from a page, and PDF — as text rows.

A row is what the text shows as one table row: a line of a tab- or ``|``-separated text, the
tab-indented lines of one row in text copied one cell per line (a line without the tab
continues the cell above it: a label broken over lines), or a printed line of a PDF. A
paragraph is a row of one cell. ``transforms/published.py`` finds the statutory rows in them.
"""

from __future__ import annotations

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


def text_rows(text: str) -> tuple[list[tuple[str, ...]], list[str]]:
    """A text's rows (see the module docstring) and its paragraphs (its lines outside tables).

    >>> text_rows("规章\\t0\\t0\\t0\\n\\t行政许可\\n\\t12\\n")[0]
    [('规章', '0', '0', '0'), ('行政许可', '12')]
    """
    rows: list[tuple[str, ...]] = []
    paragraphs: list[str] = []
    cells: list[str] = []  # the tab-indented lines of the row being read
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.rstrip("\r\n")
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
    return _unflatten_summary_tables(rows, paragraphs)


# nianbao's report.md (flows/outputs/render.py to_markdown) prints each table flat: section 一
# as a table of channels, table 二 one value per line, table 四 as three rows of five.
_CHANNEL_HEADER = ("渠道", "条数")
_FLAT_PROACTIVE_HEADER = ("条款", "信息内容", "项目", "数量")
_FLAT_APPEALS_HEADER = ("", "结果维持", "结果纠正", "其他结果", "尚未审结", "总计")


def _unflatten_summary_tables(
    rows: list[tuple[str, ...]], paragraphs: list[str]
) -> tuple[list[tuple[str, ...]], list[str]]:
    """The flat tables of nianbao's report.md laid out as the statutory tables print them:
    table 二 one row per item, table 四 one row of 15, section 一 as part 一's sentence."""
    out: list[tuple[str, ...]] = []
    paragraphs = list(paragraphs)
    header: tuple[str, ...] | None = None
    total, channels = "", []
    for row in rows:
        if row in (_CHANNEL_HEADER, _FLAT_PROACTIVE_HEADER, _FLAT_APPEALS_HEADER):
            header = row
            if row == _FLAT_APPEALS_HEADER:
                out.append(row[1:])
                out.append(())
            continue
        if header == _CHANNEL_HEADER and len(row) == 2:
            label, count = row
            if label == "合计":
                total = f"主动公开各类政府信息{count}条"
            else:
                channels.append(f"{label}公开信息{count}条")
            continue
        if header == _FLAT_PROACTIVE_HEADER and len(row) == 4:
            label, value = row[1], row[3]
            if out and out[-1][:1] == (label,):
                out[-1] = (*out[-1], value)
            else:
                out.append((label, value))
            continue
        if header == _FLAT_APPEALS_HEADER and len(row) == 6:
            out[-1] = (*out[-1], *row[1:])
            continue
        header = None
        out.append(row)
    if total or channels:
        # Part 一's sentence, where part 一 begins, as a published report words it.
        sentence = "，其中，通过".join(filter(None, (total, "，".join(channels)))) + "。"
        starts = [i for i, text in enumerate(paragraphs) if text.startswith("一、总体情况")]
        paragraphs.insert(starts[0] + 1 if starts else 0, sentence)
    return out, paragraphs


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
